#!/usr/bin/env bash
# Seed 000's search against every baseline (issue 13, items 3–6). Reproduce:
#   bash experiments/automl/search.sh
# Evaluations are cached in each folder's cache/ (delete it to measure from scratch).
# Step 3 and the cut-9 plans in plan-{0.1,1,10}/ were measured with full frames (41-byte
# headers) before session frames, at commit d019332.
# Device mcu, edge edge-gpu, 1 Mbit/s, 5 ms RTT, gRPC framing unless stated. Steps 1–3 use
# AMC's log-latency reward; step 4 the default `latency` reward (within 1 point).
set -euo pipefail
BIN=${COINFER:-cargo run --release --}
O=experiments/automl

# 1. Small space (enumerable): the default model's head at cut 9 in multiples of 8, feature
#    bits 2,3,4,6,8 — 320 configurations; exhaustive oracle vs DDPG and random search
#    (300 episodes, 6 seeds) and the baselines. Adaptive-BN proxy on 1,000 validation images.
$BIN automl compare --cut 9 --reward log-latency --seeds 1,2,3,4,5,6 --episodes 300 --val-images 1000 \
  --out $O/compare-cut9 > $O/compare-cut9/compare.txt

# 2. Sweep of the small space over link rates and two devices (evaluations from step 1's cache).
mkdir -p $O/sweep-cut9 && cp -r $O/compare-cut9/cache $O/sweep-cut9/
$BIN automl sweep --cut 9 --reward log-latency --seeds 1,2,3 --episodes 300 --val-images 1000 \
  --rates-mbps 0.1,1,10,100 --devices mcu,rpi4 --out $O/sweep-cut9 > $O/sweep-cut9/sweep.txt

# 3. Large space: the C'=16 learned bottleneck at cut 9, every width channel by channel
#    (--multiple-of 1), code width and bits — 6.9 M configurations; DDPG vs random vs uniform
#    at equal episodes (150, 3 seeds), 500 validation images per evaluation.
$BIN automl compare --bottleneck experiments/bottleneck/cut9-c16-b4-d2-tail --multiple-of 1 --reward log-latency \
  --seeds 1,2,3 --episodes 150 --warmup 50 --val-images 500 \
  --out $O/compare-bottleneck-large > $O/compare-bottleneck-large/compare.txt

# 4. The searched plan at three link rates on the early-cut bottleneck (cut 2, after the stem:
#    the stem's width channel by channel, the code's width and bits — 260 configurations),
#    default `latency` reward, fine-tuned one epoch, scored on the 10,000 test images and run
#    on the real runtime (edge server + device over gRPC through the link emulator). Device-only
#    or edge-only is deployed instead where it scores better.
B=experiments/bottleneck/cut2-c4-b2-d2-tail
for R in 1 0.1 10; do
  $BIN automl --bottleneck $B --multiple-of 1 --rate-mbps $R \
    --episodes 100 --warmup 30 --val-images 500 --finetune-epochs 1 --test-images 10000 \
    --runtime-images 200 --cache $O/cut2-cache --out $O/plan-cut2-$R > $O/plan-cut2-$R.txt
done

# 5. The same space enumerated (oracle) against DDPG, random and the baselines, and swept over
#    rates and devices (evaluations from step 4's cache).
mkdir -p $O/compare-cut2 $O/sweep-cut2 && cp -r $O/cut2-cache $O/compare-cut2/cache
$BIN automl compare --bottleneck $B --multiple-of 1 --seeds 1,2,3 --episodes 300 --val-images 500 \
  --out $O/compare-cut2 > $O/compare-cut2/compare.txt
cp -r $O/compare-cut2/cache $O/sweep-cut2/
$BIN automl sweep --bottleneck $B --multiple-of 1 --seeds 1,2,3 --episodes 300 --val-images 500 \
  --rates-mbps 0.1,1,10,100 --devices mcu,rpi4 --out $O/sweep-cut2 > $O/sweep-cut2/sweep.txt
