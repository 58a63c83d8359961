#!/usr/bin/env bash
# Learned bottlenecks (issue 3, ≥ 64× at ≤ 1 % drop): BottleNet++-style encoder/decoder at
# cut 9 (stage1 output, 32×7×7 = 6272 B fp32), backbone frozen.
# Reproduce: bash experiments/bottleneck/run.sh  (≈ 15 min per setting on 2 cores)
set -euo pipefail
BIN=${COINFER:-cargo run --release --}
for C in ${CHANNELS:-2 4}; do
  $BIN codec bottleneck --cut 9 --channels $C --bits 3 --epochs ${EPOCHS:-4} --lr 3e-3 \
    --out experiments/bottleneck/cut9-c$C-b3 --json > /dev/null
done
