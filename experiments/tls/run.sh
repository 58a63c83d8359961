#!/usr/bin/env bash
# What TLS and per-device credentials cost (issue 16): three runs of `coinfer bench tls`
# (plaintext, TLS + token and mutual-TLS edges side by side; the first also holds 10,000 idle
# TLS connections on an edge process). Results: experiments/tls/bench-tls-{1,2,3}.{txt,json}.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -q -p coinfer
for i in 1 2 3; do
  idle=0; [ "$i" = 1 ] && idle=10000
  target/release/coinfer bench tls --requests 2000 --idle "$idle" > "experiments/tls/bench-tls-$i.txt"
  target/release/coinfer --json bench tls --requests 2000 --idle 0 > "experiments/tls/bench-tls-$i.json"
done
# The same with idle cores kept polling (the low-latency setting of `bench edge`).
for i in 1 2 3; do
  target/release/coinfer --json bench tls --requests 2000 --idle 0 --busy-poll-us 2000 > "experiments/tls/bench-tls-busy-$i.json"
done
