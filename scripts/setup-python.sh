#!/usr/bin/env bash
# Builds the Python package (crates/py: PyO3 + maturin, `import coinfer`) into .venv after
# scripts/setup.sh; idempotent (rebuilt when its sources or the crates it binds change).
# About 10 minutes cold on a 2-core machine (crates/py has its own Cargo.lock, so its
# dependencies compile again). Run by scripts/test.sh and scripts/setup-train.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The Python package (crates/py: PyO3 + maturin, `import coinfer`), rebuilt when its sources or
# the crates it binds (sim, policy, graph, engine, pipeline and theirs) change.
want="$(find crates -type f -not -path '*/target/*' -not -path 'crates/fuzz-targets/*' \
  -not -path '*/__pycache__/*' -not -path '*/.pytest_cache/*' | sort | xargs sha256sum | sha256sum | cut -d' ' -f1)"
# One wheel (abi3: every Python ≥ 3.10) in target/py-wheel, installed here and by test.sh into
# a second environment with the gymnasium version Ray RLlib pins.
if [ "$(cat .venv/.coinfer-py 2>/dev/null)" != "$want" ] || ! .venv/bin/python -c "import coinfer" 2>/dev/null \
  || ! ls target/py-wheel/coinfer-*.whl >/dev/null 2>&1; then
  echo "setup: building the Python package (crates/py) into .venv (about 10 minutes the first time)"
  rm -rf target/py-wheel
  CARGO_TARGET_DIR="$PWD/target" PATH="$PWD/.venv/bin:$PATH" .venv/bin/pip wheel -q --disable-pip-version-check --no-deps \
    --no-build-isolation ./crates/py -w target/py-wheel
  .venv/bin/pip install -q --disable-pip-version-check --force-reinstall --no-deps target/py-wheel/coinfer-*.whl
  echo "$want" > .venv/.coinfer-py
fi
echo "setup-python: ok"
