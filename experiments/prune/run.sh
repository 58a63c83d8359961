#!/usr/bin/env bash
# Pruning target (issue 3): half the head's MACs up to cut 9 (stage1 output), fine-tuned.
# Reproduce: bash experiments/prune/run.sh  (≈ 25 min on 2 cores)
set -euo pipefail
BIN=${COINFER:-cargo run --release --}
OUT=experiments/prune
$BIN prune models/fmnist-resnet.onnx --uniform 0.3 --until 9 --out $OUT/head-half.onnx --json > $OUT/head-half.prune.json
$BIN finetune $OUT/head-half.onnx --epochs 3 --lr 1e-3 --out $OUT/head-half.ft.onnx --json > $OUT/head-half.ft.json
