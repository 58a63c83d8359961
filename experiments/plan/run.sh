#!/usr/bin/env bash
# `coinfer plan` on every model of the third-party corpus (models/corpus, random weights): each
# planned for mcu → edge-gpu at 10 Mbit/s on 64 random inputs (no real data exists for them),
# then its plan served by an edge and run by a device on 20 of those inputs over gRPC.
# Results: experiments/plan/<model>/ (the plan folders) and experiments/plan/summary.txt.
# Reproduce: bash experiments/plan/run.sh   (after `cargo build`)
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${COINFER:-./target/debug/coinfer}
OUT=experiments/plan
cat > $OUT/summary.txt <<'HEAD'
# coinfer plan, mcu -> edge-gpu at 10 Mbit/s, RTT 5 ms, 64 random inputs (32 calibrate, 32 check
# top-1 agreement >= 99 %): plan wall time, options tried, the chosen one, its predicted latency
# for those profiles. runtime: the plan folder served by `edge serve` and run by `device run`
# on this host over loopback without link emulation, 20 requests (shows the plan runs and is
# answered; its latency is this host's, not the profiles').
HEAD
port=50151
while read -r name shape; do
  dir=$OUT/$name
  rm -rf "$dir"
  inputs=/tmp/coinfer-plan-$name.npy
  dims=${shape#*:}
  .venv/bin/python - "$inputs" "$dims" <<'PY'
import sys, numpy as np
shape = [int(d) for d in sys.argv[2].split(",")]
shape[0] = 64
np.save(sys.argv[1], np.random.default_rng(0).random(shape, dtype=np.float32))
PY
  start=$(date +%s.%N)
  $BIN plan models/corpus/$name.onnx --input-shape "$shape" --rate-mbps 10 --inputs "$inputs" \
    --out "$dir" > "$dir.txt" 2>/dev/null
  secs=$(echo "$(date +%s.%N) - $start" | bc)
  $BIN edge serve --listen 127.0.0.1:$port --metrics 127.0.0.1:$((port + 1)) --models "$dir" \
    --plan "$dir/plan.json" > /dev/null 2>&1 &
  edge=$!
  for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
  $BIN device run --plan "$dir/plan.json" --models "$dir" --edge http://127.0.0.1:$port \
    --inputs "$inputs" --n 20 --json > "$dir/device-run.json" 2>/dev/null || true
  kill $edge; wait $edge 2>/dev/null || true
  python3 - "$name" "$secs" "$dir" >> $OUT/summary.txt <<'PY'
import json, sys
name, secs, d = sys.argv[1], float(sys.argv[2]), sys.argv[3]
r = json.load(open(f"{d}/report.json")); best = r["candidates"][r["chosen"]]
s = json.load(open(f"{d}/device-run.json"))["summary"]
print(f"{name:18s} plan {secs:5.1f} s  {len(r['candidates']):4d} options  chosen {json.dumps(best['split'])} "
      f"{best['codec']} {best['bytes_per_sample']:.0f} B agreement {100*best['agreement']:.1f} % "
      f"predicted {1e3*best['prediction']['total_s']:.2f} ms | runtime: {s['edge']} edge / "
      f"{s['local']} local / {s['fallback']} fallback of {s['requests']}, p50 {s['e2e_ms']['p50']:.2f} ms")
PY
  port=$((port + 2))
done <<'LIST'
mbv3-dynhw image:1,3,128,160
ppocr-cls-const x:1,3,48,192
fpn-det-op11 images:1,3,160,224
crnn-attn image:1,3,48,192
unet-seg input:1,3,96,128
lenet-ir3-op9 data:1,1,28,28
seghead-ac-op11 image:1,3,90,120
LIST
cat $OUT/summary.txt
