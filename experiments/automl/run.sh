#!/usr/bin/env bash
# Seed 000's accuracy signal (issue 13, item 2): 20 random per-group prune ratios of the head up
# to cut 9 (each group keeps ≥ 25 % of its channels), each scored on 2,000 validation images
# as pruned, after adaptive BN (1,024 training images), after 50 fine-tuning steps (batch 128),
# and after one full fine-tuning epoch (55,000 images) — the reference. ≈ 6 min a configuration
# on 2 cores. Resumable: rows already in experiments/automl/proxies.jsonl are kept.
# Reproduce: bash experiments/automl/run.sh
set -euo pipefail
BIN=${COINFER:-cargo run --release --}
$BIN automl proxies --until 9 --configs 20 --seed 1 --max-ratio 0.75 --short-steps 50 \
  --epochs 1 --val-images 2000 --recalibration-images 1024 --out experiments/automl
