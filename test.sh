#!/usr/bin/env bash
# Runs every check and test of vigie. The README's test command, and what
# CI runs (.ci/run calls this script and nothing else).
#
# Installs what it needs when missing: the thumbv7em-none-eabihf target and
# QEMU (qemu-system-arm, from Debian's packages).
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n==> %s\n' "$*"; }

step "toolchain: thumbv7em-none-eabihf target"
if ! rustup target list --installed | grep -qx thumbv7em-none-eabihf; then
    rustup target add thumbv7em-none-eabihf
fi

step "QEMU for the Cortex-M4F firmware"
if ! command -v qemu-system-arm >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq qemu-system-arm >/dev/null
    else
        sudo apt-get update -qq && sudo apt-get install -y -qq qemu-system-arm >/dev/null
    fi
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "vigie-core builds for a Cortex-M4F (no_std, no alloc)"
cargo build -p vigie-core --release --target thumbv7em-none-eabihf
# The core's dependency tree for the device must not pull std or alloc.
tree=$(cargo tree -p vigie-core --target thumbv7em-none-eabihf -e normal,features,no-proc-macro --prefix none)
if grep -E 'feature "(std|alloc|use-std)"' <<<"$tree"; then
    echo "error: the thumb build of vigie-core enables std or alloc in a dependency (above)" >&2
    exit 1
fi

step "cargo clippy (all targets, warnings denied)"
cargo clippy --workspace --all-targets --release -- -D warnings

step "the CUDA backend builds (no GPU needed to compile)"
cargo check -p vigie-trainer --release --features cuda

step "documentation of vigie-core (warnings denied)"
RUSTDOCFLAGS="-D warnings" cargo doc -p vigie-core --no-deps --release

step "tests"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --release 2>&1 | tee "$log"
passed=$(grep -Eo '^test result: ok\. [0-9]+ passed' "$log" | grep -Eo '[0-9]+ passed' | awk '{ s += $1 } END { print s + 0 }')

step "firmware: vigie-core on a Cortex-M4F in QEMU (mps2-an386)"
(cd firmware-demo && cargo fmt -- --check && cargo clippy --release -- -D warnings)
out=$(cd firmware-demo && timeout 120 cargo run --release)
printf '%s\n' "$out"
grep -qx '8/8 right' <<<"$out"

echo
echo "vigie: $((passed + 1)) passed, 0 failed"
