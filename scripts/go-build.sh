#!/usr/bin/env bash
# Builds one of the project's Go programs from its module through the Go module proxy and
# caches it under .cache/<module>/<hash of inputs>/, printing that directory on stdout:
#   kube  test/kube  -> shimmy-kube (etcd and the Kubernetes components, hyperkube-style)
#   node  test/node  -> containerd, containerd-shim-runc-v2, ctr (containerd 2.x) and
#                       oci-image (image archives without a registry)
#   helm  test/helm  -> helm (Helm 3, for installing and testing the chart)
# Rebuilds only when the module's go.mod, go.sum or Go files, or the Go version, change.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
module="${1:?usage: go-build.sh kube|node|helm}"
src="$root/test/$module"
[ -f "$src/go.mod" ] || { echo "go-build: no Go module at $src" >&2; exit 2; }

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  export PATH="/usr/local/go/bin:$PATH"
fi
if ! command -v go >/dev/null 2>&1; then
  echo "go-build: Go is needed to build $module; installing golang-go" >&2
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq >&2 && $sudo_cmd apt-get install -y -qq golang-go >&2
fi

# A requirement's version, inside a require block or on a one-line `require m v`.
version_of() { awk -v m="$1" '$1 == m { print $2 } $1 == "require" && $2 == m { print $3 }' "$src/go.mod" | head -n 1; }
case "$module" in
  kube)
    v="$(version_of k8s.io/kubernetes)"
    what="etcd and the Kubernetes components from k8s.io/kubernetes $v"
    expect="a first build downloads ~600 MB of modules and compiles for ~14 minutes on 2 cores"
    targets=(".")
    outputs=(shimmy-kube)
    ldflags="-s -w -X main.kubeVersion=$v -X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$v" | cut -d. -f2)"
    ;;
  node)
    v="$(version_of github.com/containerd/containerd/v2)"
    what="containerd $v, its runc shim, ctr and oci-image"
    expect="a first build compiles for ~2 minutes on 2 cores"
    targets=(github.com/containerd/containerd/v2/cmd/containerd github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 github.com/containerd/containerd/v2/cmd/ctr ./oci-image)
    outputs=(containerd containerd-shim-runc-v2 ctr oci-image)
    ldflags="-s -w -X github.com/containerd/containerd/v2/version.Version=$v -X github.com/containerd/containerd/v2/version.Revision=shimmy"
    ;;
  helm)
    v="$(version_of helm.sh/helm/v3)"
    what="helm $v"
    expect="a first build downloads ~100 MB of modules and compiles for ~3 minutes on 2 cores"
    targets=(helm.sh/helm/v3/cmd/helm)
    outputs=(helm)
    # As Helm's Makefile: its version, and the Kubernetes version `helm template` and `helm lint`
    # assume without a cluster (client-go v0.X.Y -> 1.X), which would otherwise be 1.20.
    k8s_minor="$(version_of k8s.io/client-go | cut -d. -f2)"
    ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$v"
    ldflags="$ldflags -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$k8s_minor"
    ldflags="$ldflags -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$k8s_minor"
    ;;
  *) echo "go-build: unknown module $module" >&2; exit 2 ;;
esac

# One build of a module at a time (two `up`s, or `up` beside `npm test`): the second waits.
mkdir -p "$root/.cache"
exec 9>"$root/.cache/go-build-$module.lock"
flock 9

hash="$( { cd "$src" && find . -name '*.go' -o -name go.mod -o -name go.sum | LC_ALL=C sort | xargs cat; go version; echo "$ldflags"; } | sha256sum | cut -c1-16)"
out_dir="$root/.cache/$module/$hash"
complete=1
for o in "${outputs[@]}"; do [ -x "$out_dir/$o" ] || complete=0; done
if [ "$complete" = 1 ]; then
  echo "$out_dir"
  exit 0
fi

mkdir -p "$out_dir/tmp"
echo "go-build: building $what" >&2
echo "go-build: $expect (seconds when Go's build cache is warm)" >&2
start=$(date +%s)
(
  cd "$src"
  echo "go-build: downloading modules through $(go env GOPROXY | cut -d, -f1)" >&2
  go mod download
  echo "go-build: modules ready after $(( $(date +%s) - start )) s; compiling" >&2
  CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "$ldflags" -o "$out_dir/tmp/" "${targets[@]}" &
  build=$!
  ticks=0
  while kill -0 "$build" 2>/dev/null; do
    sleep 1
    ticks=$((ticks + 1))
    if [ $((ticks % 30)) -eq 0 ] && kill -0 "$build" 2>/dev/null; then
      echo "go-build: still compiling $module ($(( $(date +%s) - start )) s so far)" >&2
    fi
  done
  wait "$build"
)
# A single target is written under its package name; the kube module's is "kube".
if [ "${#targets[@]}" = 1 ] && [ ! -e "$out_dir/tmp/${outputs[0]}" ]; then mv "$out_dir/tmp/"* "$out_dir/tmp/${outputs[0]}"; fi
for o in "${outputs[@]}"; do mv "$out_dir/tmp/$o" "$out_dir/$o"; done
rmdir "$out_dir/tmp"
echo "go-build: built $module in $(( $(date +%s) - start )) s" >&2
echo "$out_dir"
