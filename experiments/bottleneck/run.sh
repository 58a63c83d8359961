#!/usr/bin/env bash
# Learned bottlenecks (issue 3, target ≥ 64× at ≤ 1 % drop): BottleNet++-style encoder/decoder
# at cut 9 (stage1 output, 32×7×7 = 6272 B fp32).
#   cut9-c{2,4}-b3:            backbone frozen, one-conv decoder
#   cut9-c4-b2-d2-tail, ...:   two-conv decoder, tail retrained (device head unchanged)
# Reproduce: bash experiments/bottleneck/run.sh  (≈ 15-20 min per setting on 2 cores)
set -euo pipefail
BIN=${COINFER:-cargo run --release --}
O=experiments/bottleneck
for C in 2 4; do
  $BIN codec bottleneck --cut 9 --channels $C --bits 3 --epochs 4 --lr 3e-3 --out $O/cut9-c$C-b3 --json > /dev/null
done
for cfg in "4 2" "2 3"; do
  set -- $cfg
  $BIN codec bottleneck --cut 9 --channels $1 --bits $2 --decoder-layers 2 --train-tail --epochs 3 \
    --lr 3e-3 --out $O/cut9-c$1-b$2-d2-tail --json > /dev/null
done
# The setting that meets the target: 6 epochs.
$BIN codec bottleneck --cut 9 --channels 4 --bits 2 --decoder-layers 2 --train-tail --epochs 6 --lr 3e-3 \
  --out $O/cut9-c4-b2-d2-tail-e6 --json > /dev/null
# A wide code for seed 000's AutoML search to prune (its width and bits are searched):
$BIN codec bottleneck --cut 9 --channels 16 --bits 4 --decoder-layers 2 --train-tail --epochs 4 --lr 3e-3 \
  --out $O/cut9-c16-b4-d2-tail --json > /dev/null
# An early cut for seed 000 (issue 13): after the stem (16×14×14, 12,544 B fp32), where the
# device head costs 1 % of the MACs; the search prunes the stem, the code and its bits.
$BIN codec bottleneck --cut 2 --channels 4 --bits 2 --decoder-layers 2 --train-tail --epochs 4 --lr 3e-3 \
  --out $O/cut2-c4-b2-d2-tail --json > /dev/null
# Session frames (shape and entropy model agreed once): re-code the target setting without
# retraining, each frame format in turn; the last (the default) is what codec.json holds.
for F in full session session-per-element session-context; do
  $BIN codec calibrate $O/cut9-c4-b2-d2-tail-e6 --frames $F --json > /dev/null
done
