#!/usr/bin/env bash
# Seed 002 on the real runtime: placement of four successive versions (K*, always full,
# always none, fixed K=6) and the stopping rules on the first version, over a trace-driven
# block-fading link. Results: experiments/placement/{placement.json,periods.csv,rules.csv,
# requests.csv,placement.svg,run.log}.
set -euo pipefail
cd "$(dirname "$0")/../.."
./target/release/coinfer placement --config examples/placement-runtime.toml \
  --requests 64 --slot-ms 80 --out experiments/placement | tee experiments/placement/run.log
