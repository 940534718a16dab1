#!/usr/bin/env bash
# Runs every check and test of the workspace; the README's test command, and what CI runs.
# Installs what it needs when missing: cargo-deny and cargo-nextest from crates.io, and a
# Python virtualenv with the OpenTelemetry SDK from PyPI for the interoperability tests.
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

# The interoperability tests run the OpenTelemetry Python SDK (tests/interop).
VENV=target/interop-venv
REQUIREMENTS=tests/interop/requirements.txt
if ! command -v python3 >/dev/null 2>&1; then
    echo "python3 is needed for the interoperability tests: apt-get install python3 python3-venv" >&2
    exit 1
fi
if ! cmp -s "$REQUIREMENTS" "$VENV/requirements.txt" 2>/dev/null; then
    rm -rf "$VENV"
    python3 -m venv "$VENV" || {
        echo "python3 -m venv failed: apt-get install python3-venv" >&2
        exit 1
    }
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
    cp "$REQUIREMENTS" "$VENV/requirements.txt"
fi
export TRACEWIRE_PYTHON="$PWD/$VENV/bin/python"

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "cargo deny (bans, licenses, sources; advisories need a database this environment cannot fetch)"
cargo deny check bans licenses sources

step "cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps --quiet

step "examples build"
cargo build --quiet --workspace --bins

step "fuzz targets compile"
cargo check --quiet --manifest-path fuzz/Cargo.toml --bins

step "tests"
cargo nextest run --workspace --all-features --no-fail-fast

step "doctests"
cargo test --workspace --all-features --doc
