#!/usr/bin/env bash
# Rate-accuracy sweeps at cut 4 and cut 9 (2,000 test images, one frame per image), with the
# input PNG/JPEG baseline and the frozen-backbone bottlenecks at cut 9.
set -euo pipefail
BIN=${COINFER:-cargo run --release --}
$BIN codec sweep --cut 4 --images 2000 --out /tmp/sweep-cut4 --json > /dev/null
$BIN codec sweep --cut 9 --images 2000 --bottleneck experiments/bottleneck/cut9-c2-b3 \
  --bottleneck experiments/bottleneck/cut9-c4-b3 --out /tmp/sweep-cut9 --json > /dev/null
for c in 4 9; do for f in /tmp/sweep-cut$c/sweep.*; do cp $f experiments/codec/cut$c-${f##*/}; done; done
