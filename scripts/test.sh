#!/usr/bin/env bash
# Runs every check and test of the workspace; the README's test command, and what CI runs.
# Installs what it needs (cargo-deny, cargo-nextest) from crates.io when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "tools"
if ! cargo deny --version >/dev/null 2>&1; then
    cargo install cargo-deny --locked --version 0.20.2
fi
if ! cargo nextest --version >/dev/null 2>&1; then
    cargo install cargo-nextest --locked
fi

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "cargo deny (bans, licenses, sources; advisories need a database this environment cannot fetch)"
cargo deny check bans licenses sources

step "cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps --quiet

step "fuzz targets compile"
cargo check --quiet --manifest-path fuzz/Cargo.toml --bins

step "tests"
cargo nextest run --workspace --all-features --no-fail-fast

step "doctests"
cargo test --workspace --all-features --doc
