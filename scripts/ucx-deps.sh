#!/usr/bin/env bash
# UCX from Debian, for the link between node agents (native/shimmy_ucx.c): the library and
# headers (libucx-dev), OpenSSL's headers for the link's MAC (libssl-dev) and ucx_perftest, the
# raw link's figures (ucx-utils). Quick when present; needs root for apt-get.
set -euo pipefail
missing=()
[ -f /usr/include/ucp/api/ucp.h ] || missing+=(libucx-dev)
[ -f /usr/include/openssl/evp.h ] || missing+=(libssl-dev)
command -v ucx_perftest >/dev/null 2>&1 || missing+=(ucx-utils)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "ucx-deps: installing ${missing[*]} from Debian" >&2
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >&2
fi
