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
$BIN codec bottleneck --cut 9 --channels 4 --bits 2 --decoder-layers 2 --train-tail --epochs 5 --lr 3e-3 \
  --out $O/cut9-c4-b2-d2-tail --json > /dev/null
$BIN codec bottleneck --cut 9 --channels 2 --bits 3 --decoder-layers 2 --train-tail --epochs 5 --lr 3e-3 \
  --out $O/cut9-c2-b3-d2-tail --json > /dev/null
$BIN codec bottleneck --cut 4 --channels 2 --bits 3 --decoder-layers 2 --train-tail --epochs 3 --lr 3e-3 \
  --out $O/cut4-c2-b3-d2-tail --json > /dev/null
