#!/usr/bin/env bash
# Runtime measurements of issue 5: serving overhead, throughput vs raw tail, idle
# connections (bench edge), and measured vs predicted latency on emulated links (demo).
# Usage: bash experiments/runtime/run.sh   (from the project root; ~3 min)
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -p coinfer
B=target/release/coinfer
OUT=experiments/runtime
for w in 1 2; do
  $B bench edge --workers $w --seconds 4 --idle 1000 --json > $OUT/bench-edge-w$w.json
  $B bench edge --workers $w --seconds 4 --idle 1000 | tee $OUT/bench-edge-w$w.txt
done
$B demo --images 2000 --runtime-images 200 --out $OUT/demo | tee $OUT/demo.txt
