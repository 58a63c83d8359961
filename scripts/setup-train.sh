#!/usr/bin/env bash
# The environment the training examples run in (outside CI): .venv-train with
# scripts/requirements-train.txt (Ray RLlib, torch, Stable-Baselines3; ray pins gymnasium
# 1.2.2) and the coinfer wheel setup-python.sh builds. Idempotent; ~6 GB, a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-python.sh
want="$(sha256sum scripts/requirements-train.txt | cut -d' ' -f1)"
if [ "$(cat .venv-train/.coinfer-ready 2>/dev/null)" != "$want" ]; then
  echo "setup-train: .venv-train with scripts/requirements-train.txt (PyPI)"
  [ -x .venv-train/bin/pip ] || python3 -m venv .venv-train
  .venv-train/bin/pip install -q --disable-pip-version-check -r scripts/requirements-train.txt
  echo "$want" > .venv-train/.coinfer-ready
fi
.venv-train/bin/pip install -q --disable-pip-version-check --force-reinstall --no-deps target/py-wheel/coinfer-*.whl
echo "setup-train: ok ($(.venv-train/bin/python -c 'import ray, torch, gymnasium; print("ray", ray.__version__, "torch", torch.__version__, "gymnasium", gymnasium.__version__)'))"
