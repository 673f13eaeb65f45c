#!/usr/bin/env bash
# Builds test/kube (etcd + kube-apiserver + kube-scheduler in one binary) from the
# Kubernetes Go modules through the Go module proxy, and caches it under
# .cache/kube/<hash of inputs>/shimmy-kube. Prints the binary's path on stdout.
# Rebuilds only when test/kube/{go.mod,go.sum,main.go} or the Go version change.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/test/kube"
kube_version="$(awk '$1 == "k8s.io/kubernetes" { print $2 }' "$src/go.mod" | head -n 1)"

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  export PATH="/usr/local/go/bin:$PATH"
fi
if ! command -v go >/dev/null 2>&1; then
  echo "kube-build: Go is needed to build the Kubernetes test binaries; installing golang-go" >&2
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq >&2 && $sudo_cmd apt-get install -y -qq golang-go >&2
fi

hash="$( { cat "$src/go.mod" "$src/go.sum" "$src/main.go"; go version; } | sha256sum | cut -c1-16)"
out_dir="$root/.cache/kube/$hash"
binary="$out_dir/shimmy-kube"
if [ -x "$binary" ]; then
  echo "$binary"
  exit 0
fi

mkdir -p "$out_dir"
echo "kube-build: building etcd, kube-apiserver and kube-scheduler from k8s.io/kubernetes $kube_version" >&2
echo "kube-build: a first build downloads ~560 MB of modules and compiles for ~7 minutes on 2 cores (seconds when Go's build cache is warm)" >&2
start=$(date +%s)
(
  cd "$src"
  echo "kube-build: downloading modules through $(go env GOPROXY | cut -d, -f1)" >&2
  go mod download
  echo "kube-build: modules ready after $(( $(date +%s) - start )) s; compiling" >&2
  CGO_ENABLED=0 go build -mod=readonly -trimpath \
    -ldflags "-s -w -X main.kubeVersion=$kube_version -X k8s.io/component-base/version.gitVersion=$kube_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$kube_version" | cut -d. -f2)" \
    -o "$binary.tmp" . &
  build=$!
  ticks=0
  while kill -0 "$build" 2>/dev/null; do
    sleep 1
    ticks=$((ticks + 1))
    if [ $((ticks % 30)) -eq 0 ] && kill -0 "$build" 2>/dev/null; then
      echo "kube-build: still compiling ($(( $(date +%s) - start )) s so far)" >&2
    fi
  done
  wait "$build"
)
mv "$binary.tmp" "$binary"
echo "kube-build: built $binary in $(( $(date +%s) - start )) s" >&2
echo "$binary"
