#!/usr/bin/env bash
# Installs the benchmark's peers: Mosquitto, NATS and Redis from Debian, a KRaft Kafka
# broker's jars from Maven Central (into .cache/peers/kafka/libs), Aeron's benchmark programs
# (Maven Central, .cache/peers/aeron) and iceoryx2's (crates.io, .cache/peers/iceoryx2). Idempotent.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
need=()
for pkg in mosquitto:mosquitto nats-server:nats-server redis-server:redis-server java:default-jre-headless mvn:maven; do
  cmd="${pkg%%:*}"; deb="${pkg##*:}"
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || need+=("$deb")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "[peers] installing ${need[*]} from Debian" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# Debian starts its own broker services; the benchmark runs private instances instead.
for svc in mosquitto redis-server nats-server; do
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now "$svc" >/dev/null 2>&1 || true; fi
done
libs="$root/.cache/peers/kafka/libs"
if ! ls "$libs"/kafka_2.13-*.jar >/dev/null 2>&1; then
  echo "[peers] resolving Kafka from Maven Central" >&2
  mkdir -p "$libs"
  mvn -q -B -f "$root/bench/peers/kafka/pom.xml" dependency:copy-dependencies -DoutputDirectory="$libs"
fi
bash "$root/bench/peers/aeron/setup.sh"
bash "$root/bench/peers/iceoryx2/setup.sh"
echo "[peers] mosquitto, nats-server, redis-server and kafka ($(ls "$libs"/kafka_2.13-*.jar | xargs -n1 basename)) are ready" >&2
