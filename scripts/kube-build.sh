#!/usr/bin/env bash
# Builds (once, cached) etcd and the Kubernetes components in one binary and prints its path.
set -euo pipefail
dir="$(bash "$(dirname "$0")/go-build.sh" kube)"
echo "$dir/shimmy-kube"
