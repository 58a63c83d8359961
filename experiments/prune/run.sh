#!/usr/bin/env bash
# Pruning target (issue 3): at most half the head's MACs up to cut 9 (stage1 output), then
# fine-tuning. Two variants: kept channel counts as computed (head-half) and rounded to
# multiples of 8 (head-half-m8), which is what turns fewer MACs into less time on SIMD kernels.
# Reproduce: bash experiments/prune/run.sh  (≈ 25 min per variant on 2 cores)
set -euo pipefail
BIN=${COINFER:-cargo run --release --}
OUT=experiments/prune
for v in "head-half 1" "head-half-m8 8"; do
  set -- $v
  $BIN prune models/fmnist-resnet.onnx --uniform 0.3 --until 9 --multiple-of $2 --out $OUT/$1.onnx --json > $OUT/$1.prune.json
  $BIN finetune $OUT/$1.onnx --epochs 3 --lr 1e-3 --out $OUT/$1.ft.onnx --json > $OUT/$1.ft.json
done
# Per-group ratios (head-half-groups.toml): ~half the head MACs with multiple-of-8 channel counts.
$BIN prune models/fmnist-resnet.onnx --ratios $OUT/head-half-groups.toml --until 9 --out $OUT/head-half-groups.onnx --json > $OUT/head-half-groups.prune.json
$BIN finetune $OUT/head-half-groups.onnx --epochs 3 --lr 1e-3 --out $OUT/head-half-groups.ft.onnx --json > $OUT/head-half-groups.ft.json
# Longer fine-tuning of the per-group variant (the one that meets every target).
$BIN finetune $OUT/head-half-groups.onnx --epochs 4 --lr 2e-3 --out $OUT/head-half-groups.ft4.onnx --json > $OUT/head-half-groups.ft4.json
