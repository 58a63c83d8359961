#!/usr/bin/env bash
# The whole test suite: setup, formatting, lints, and every test with both engines.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features -- -D warnings
# The build the README's first command runs (default features: tract only).
cargo build --workspace
cargo test --workspace --all-features --no-fail-fast
