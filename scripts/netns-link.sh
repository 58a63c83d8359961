#!/usr/bin/env bash
# Root only, optional: device and edge in two network namespaces joined by a veth pair, the
# device's uplink shaped by the kernel (tc tbf rate; nftables random drop if installed), then
# `coinfer device run` against `coinfer edge serve` across it. Compares with the cost model.
# Usage: sudo bash scripts/netns-link.sh [RATE_MBIT=10] [LOSS=0] [N=200]
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-10}; LOSS=${2:-0}; N=${3:-200}
B=${COINFER:-target/debug/coinfer}
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)"; exit 2; }
[ -x "$B" ] || cargo build -p coinfer
cleanup() { ip netns del cf-dev 2>/dev/null || true; ip netns del cf-edge 2>/dev/null || true; kill $EDGE 2>/dev/null || true; }
EDGE=""; trap cleanup EXIT
cleanup
ip netns add cf-dev; ip netns add cf-edge
ip link add cf-d type veth peer name cf-e
ip link set cf-d netns cf-dev; ip link set cf-e netns cf-edge
ip -n cf-dev addr add 10.77.0.1/24 dev cf-d; ip -n cf-edge addr add 10.77.0.2/24 dev cf-e
ip -n cf-dev link set cf-d up; ip -n cf-edge link set cf-e up
ip -n cf-dev link set lo up; ip -n cf-edge link set lo up
# Uplink (device → edge) rate: token bucket filter on the device side.
ip netns exec cf-dev tc qdisc add dev cf-d root tbf rate "${RATE}mbit" burst 16kb latency 200ms
if [ "$LOSS" != 0 ]; then
  command -v nft >/dev/null || { echo "nft not installed (apt-get install nftables) — loss skipped"; LOSS=0; }
fi
if [ "$LOSS" != 0 ]; then
  # nftables: drop LOSS percent of outgoing packets at random.
  ip netns exec cf-dev nft add table inet cf
  ip netns exec cf-dev nft add chain inet cf out '{ type filter hook output priority 0; }'
  ip netns exec cf-dev nft add rule inet cf out numgen random mod 100 "<" "$LOSS" drop
fi
ip netns exec cf-edge "$B" edge serve --listen 10.77.0.2:50051 --metrics 10.77.0.2:9464 >/tmp/cf-edge.log 2>&1 &
EDGE=$!
sleep 2
ip netns exec cf-dev "$B" device run --edge http://10.77.0.2:50051 --plan examples/plan-two-devices.json \
  --device cam-2 --n "$N" --records /tmp/cf-netns.csv
echo "uplink ${RATE} Mbit/s (kernel tbf), loss ${LOSS} %: records in /tmp/cf-netns.csv"
