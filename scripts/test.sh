#!/usr/bin/env bash
# The whole test suite: setup (with the Python package), formatting, lints, and every test with both engines.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-python.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features -- -D warnings
# Every dependency used (cargo-machete reads the sources; installs in about a minute).
command -v cargo-machete >/dev/null || cargo install cargo-machete --locked
cargo machete
# Licences, sources and duplicate versions of every dependency (deny.toml; the advisory
# database is on GitHub, out of reach here). cargo-deny installs in about 3.5 minutes.
command -v cargo-deny >/dev/null || cargo install cargo-deny --locked
cargo deny check licenses bans sources
# The API docs build without broken links.
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace --all-features
# The README's first command builds with default features (tract only): type-checked here,
# without codegen; the all-features build below compiles and tests the same code.
cargo check --workspace --all-targets
# Every test in its own process with a timeout, timed tests alone (.config/nextest.toml);
# includes the fuzz smoke run (crates/fuzz-targets). nextest is on this machine kind; the
# install is the fallback.
command -v cargo-nextest >/dev/null || cargo install cargo-nextest --locked
cargo nextest run --workspace --all-features --no-fail-fast
cargo test --workspace --all-features --doc
# The Python package (crates/py, its own Cargo workspace): format, lints, and its tests
# against the package setup-python.sh installed.
cargo fmt --manifest-path crates/py/Cargo.toml -- --check
# (in the main target directory: the same dev profiles, so the dependencies checked above are reused)
CARGO_TARGET_DIR="$PWD/target" cargo clippy --manifest-path crates/py/Cargo.toml --all-targets -- -D warnings
.venv/bin/python -m pytest -q crates/py/tests
# The same wheel and tests against the gymnasium version Ray RLlib pins (and the pettingzoo,
# numpy and pytest it runs with): scripts/requirements-rllib-gym.txt, in .venv-rllib-gym.
want="$(sha256sum scripts/requirements-rllib-gym.txt | cut -d' ' -f1)"
if [ "$(cat .venv-rllib-gym/.coinfer-ready 2>/dev/null)" != "$want" ]; then
  [ -x .venv-rllib-gym/bin/pip ] || python3 -m venv .venv-rllib-gym
  .venv-rllib-gym/bin/pip install -q --disable-pip-version-check -r scripts/requirements-rllib-gym.txt
  echo "$want" > .venv-rllib-gym/.coinfer-ready
fi
.venv-rllib-gym/bin/pip install -q --disable-pip-version-check --force-reinstall --no-deps target/py-wheel/coinfer-*.whl
.venv-rllib-gym/bin/python -c "import gymnasium; print('pytest with gymnasium', gymnasium.__version__)"
.venv-rllib-gym/bin/python -m pytest -q crates/py/tests
