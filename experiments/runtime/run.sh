#!/usr/bin/env bash
# Runtime measurements of issue 5: serving overhead, throughput vs raw tail, idle
# connections (bench edge), and measured vs predicted latency on emulated links (demo).
# Usage: bash experiments/runtime/run.sh   (from the project root; ~3 min after the build)
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -p coinfer
B=target/release/coinfer
OUT=experiments/runtime
for cfg in "1 1" "1 32" "2 32"; do
  set -- $cfg
  $B bench edge --workers $1 --max-batch $2 --seconds 4 --idle 1000 --json > $OUT/bench-edge-w$1-b$2.json
  python3 - "$OUT/bench-edge-w$1-b$2.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"workers {r['workers']} max_batch {r['max_batch']}: tail own p50 {r['tail_own_ms']['p50']:.3f} ms, "
      f"served p50 {r['served_ms']['p50']:.3f} ms, overhead {r['overhead_p50_ms']:.3f} ms "
      f"(gRPC Health RTT {r['grpc_health_rtt_ms']['p50']:.3f}, server total-tail {r['server_total_minus_tail_ms']['p50']:.3f}, "
      f"tail in server {r['server_tail_ms']['p50']:.3f}); raw tail/s b1 {r['raw_tail_per_s_batch1']:.0f} "
      f"bmax {r['raw_tail_per_s_max_batch']:.0f}; served/s ({r['devices']} devices) {r['served_per_s']:.0f}; "
      f"ratio vs best raw {r['throughput_ratio_vs_best_raw']:.2f}; idle {r['idle_connections']} errors {r['idle_errors']}")
PY
done | tee $OUT/bench-edge.txt
$B demo --images 2000 --runtime-images 200 --out $OUT/demo | tee $OUT/demo.txt
