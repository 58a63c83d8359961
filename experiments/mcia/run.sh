#!/usr/bin/env bash
# Seed 001 (MCIA) results in docs/results.md: each line made the files next to it.
# Run from the repository root after `cargo build --release -p coinfer`.
set -euo pipefail
bin=./target/release/coinfer

# Four MCU sensors on a small edge box and a 1 MHz band (both resources contended).
$bin mcia train experiments/mcia/scenarios/contended-4.toml --slots 25600 \
  --agent experiments/mcia/contended-4/agent.safetensors
$bin mcia train experiments/mcia/scenarios/contended-4.toml --slots 25600 --learned-shares \
  --agent experiments/mcia/contended-4/hybrid.safetensors
$bin mcia eval experiments/mcia/scenarios/contended-4.toml --slots 10000 \
  --agent experiments/mcia/contended-4/agent.safetensors \
  --agent experiments/mcia/contended-4/hybrid.safetensors --out experiments/mcia/contended-4 \
  | tee experiments/mcia/contended-4/eval.txt

# The same with task arrivals (sequential): an agent trained on it and the one trained without.
$bin mcia train experiments/mcia/scenarios/contended-4-queues.toml --slots 25600 \
  --agent experiments/mcia/contended-4-queues/agent.safetensors
$bin mcia eval experiments/mcia/scenarios/contended-4-queues.toml --slots 2000 \
  --agent experiments/mcia/contended-4-queues/agent.safetensors \
  --agent experiments/mcia/contended-4/agent.safetensors --out experiments/mcia/contended-4-queues \
  | tee experiments/mcia/contended-4-queues/eval.txt

# Sixteen mixed devices on an edge CPU and a 10 MHz band, rescaled from 2 to 64 devices.
$bin mcia train experiments/mcia/scenarios/campus-16.toml --devices 4,8,16 --slots 25600 \
  --agent experiments/mcia/campus/agent.safetensors
$bin mcia sweep experiments/mcia/scenarios/campus-16.toml --devices 2,4,8,16,32,64 --slots 100 \
  --agent experiments/mcia/campus/agent.safetensors --out experiments/mcia/campus \
  | tee experiments/mcia/campus/sweep.txt
$bin bench mcia experiments/mcia/scenarios/campus-16.toml --devices 64 \
  --agent experiments/mcia/campus/agent.safetensors

# The agents' plans on the real runtime (one edge, every device a concurrent client).
mkdir -p experiments/mcia/deploy-contended-8 experiments/mcia/deploy-campus-16
$bin mcia deploy experiments/mcia/scenarios/contended-4.toml --devices 8 --slots 5 --requests 30 \
  --agent experiments/mcia/contended-4/agent.safetensors --out experiments/mcia/deploy-contended-8 \
  | tee experiments/mcia/deploy-contended-8/deploy.txt
$bin mcia deploy experiments/mcia/scenarios/campus-16.toml --slots 5 --requests 30 \
  --agent experiments/mcia/campus/agent.safetensors --out experiments/mcia/deploy-campus-16 \
  | tee experiments/mcia/deploy-campus-16/deploy.txt

# Channel dynamics (every channel Gauss–Markov, with arrivals) and heterogeneity (one group's
# compute, one group's mean SNR), the committed agents unchanged.
mkdir -p experiments/mcia/dynamics experiments/mcia/heterogeneity experiments/mcia/heterogeneity-snr
$bin mcia sweep experiments/mcia/scenarios/contended-4-queues.toml --slots 1000 \
  --set 'devices.*.channel.kind=gauss-markov' --vary 'devices.*.channel.rho=0,0.5,0.8,0.9,0.95,0.99' \
  --agent experiments/mcia/contended-4-queues/agent.safetensors --agent experiments/mcia/contended-4/agent.safetensors \
  --out experiments/mcia/dynamics | tee experiments/mcia/dynamics/sweep.txt
$bin mcia sweep experiments/mcia/scenarios/contended-4.toml --slots 1000 \
  --vary 'devices.1.compute.macs_per_s=1e7,2e7,4e7,6e7,8e7,1e8' \
  --agent experiments/mcia/contended-4/agent.safetensors \
  --out experiments/mcia/heterogeneity | tee experiments/mcia/heterogeneity/sweep.txt
$bin mcia sweep experiments/mcia/scenarios/contended-4.toml --slots 1000 \
  --vary 'devices.1.channel.mean_snr_db=-5,0,5,10,15,20' \
  --agent experiments/mcia/contended-4/agent.safetensors \
  --out experiments/mcia/heterogeneity-snr | tee experiments/mcia/heterogeneity-snr/sweep.txt

# 64 devices with price-guided refinement (the 1-point target), and its decision time.
$bin mcia eval experiments/mcia/scenarios/campus-16.toml --devices 64 --slots 50 \
  --agent experiments/mcia/campus/agent.safetensors --top-k 1 --refine 0 --price-rounds 3
$bin bench mcia experiments/mcia/scenarios/campus-16.toml --devices 64 \
  --agent experiments/mcia/campus/agent.safetensors --top-k 1 --refine 0 --price-rounds 3

# A 32-unit agent: the decision under 1 ms at 64 devices.
$bin mcia train experiments/mcia/scenarios/campus-16.toml --devices 4,8,16 --slots 25600 --hidden 32 \
  --agent experiments/mcia/campus-h32/agent.safetensors
$bin bench mcia experiments/mcia/scenarios/campus-16.toml --devices 64 --slots 200 \
  --agent experiments/mcia/campus-h32/agent.safetensors --top-k 1 --refine 0
$bin mcia eval experiments/mcia/scenarios/campus-16.toml --devices 64 --slots 50 \
  --agent experiments/mcia/campus-h32/agent.safetensors --top-k 1 --refine 0
$bin mcia eval experiments/mcia/scenarios/campus-16.toml --devices 64 --slots 50 \
  --agent experiments/mcia/campus-h32/agent.safetensors --top-k 1 --refine 0 --price-rounds 3
