#!/usr/bin/env bash
# Runtime measurements of issue 5: serving overhead, throughput vs raw tail, idle
# connections (bench edge, each configuration 3 times, medians reported), and measured vs
# predicted latency on emulated links (demo).
# Usage: bash experiments/runtime/run.sh   (from the project root; ~8 min after the build)
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -p coinfer
B=target/release/coinfer
OUT=experiments/runtime
rm -f $OUT/bench-edge-*.json
configs=(
  "default|--workers 1 --max-batch 32"
  "no-batching|--workers 1 --max-batch 1"
  "pinned|--workers 1 --max-batch 32 --pin-workers"
  "busy-poll|--workers 1 --max-batch 32 --busy-poll-us 2000"
  "pinned+busy-poll|--workers 1 --max-batch 32 --pin-workers --busy-poll-us 2000"
  "two-workers|--workers 2 --max-batch 32"
)
for rep in 1 2 3; do
  for c in "${configs[@]}"; do
    name=${c%%|*}; flags=${c#*|}
    $B bench edge $flags --seconds 4 --idle 1000 --json > "$OUT/bench-edge-$name-$rep.json"
  done
done
python3 - "$OUT" "${configs[@]}" <<'PY' | tee $OUT/bench-edge.txt
import json, statistics, sys
out, configs = sys.argv[1], sys.argv[2:]
med = lambda xs: statistics.median(xs)
print("configuration      flags                                              overhead p50 ms  served p50 ms  tail own ms  gRPC RTT ms  throughput ratio  idle errors   (median of 3 runs; ratio = served/s ÷ best raw tail/s, same threads)")
for c in configs:
    name, flags = c.split("|")
    runs = [json.load(open(f"{out}/bench-edge-{name}-{i}.json")) for i in (1, 2, 3)]
    g = lambda f: med([f(r) for r in runs])
    print(f"{name:18s} {flags:50s} {g(lambda r: r['overhead_p50_ms']):15.3f}  {g(lambda r: r['served_ms']['p50']):13.3f}  "
          f"{g(lambda r: r['tail_own_ms']['p50']):11.3f}  {g(lambda r: r['grpc_health_rtt_ms']['p50']):11.3f}  "
          f"{g(lambda r: r['throughput_ratio_vs_best_raw']):16.3f}  {max(r['idle_errors'] for r in runs):11d}"
          f"   [overhead {' '.join('%.3f' % r['overhead_p50_ms'] for r in runs)}; ratio {' '.join('%.3f' % r['throughput_ratio_vs_best_raw'] for r in runs)}]")
PY
$B demo --images 2000 --runtime-images 200 --out $OUT/demo | tee $OUT/demo.txt
