#!/usr/bin/env bash
# What real dev-cluster nodes need from Debian: runc (the OCI runtime), the CNI plugins,
# iptables and conntrack (kube-proxy), busybox-static (the shimmy image's shell and tools).
# Quick when all are there; needs root for apt-get.
set -euo pipefail
missing=()
[ -x /usr/sbin/runc ] || missing+=(runc)
[ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
command -v iptables >/dev/null 2>&1 || missing+=(iptables)
command -v conntrack >/dev/null 2>&1 || missing+=(conntrack)
[ -x /bin/busybox ] || missing+=(busybox-static)
command -v nsenter >/dev/null 2>&1 || missing+=(util-linux)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "node-deps: installing ${missing[*]} from Debian" >&2
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >&2
fi
