#!/usr/bin/env bash
# Runs every check and test of vigie. The README's test command, and what
# CI runs (.ci/run calls this script and nothing else).
#
# Installs what it needs when missing: the thumbv7em-none-eabihf target,
# rustup's llvm-tools (firmware sizes), and from Debian's packages QEMU
# (qemu-system-arm), Chromium (renders the model card in a test),
# PostgreSQL and mosquitto (the fleet tests run against both, started on
# the loopback address for the tests and stopped after).
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n==> %s\n' "$*"; }

step "toolchain: thumbv7em-none-eabihf target"
if ! rustup target list --installed | grep -qx thumbv7em-none-eabihf; then
    rustup target add thumbv7em-none-eabihf
fi

apt_install() {
    local sudo=()
    [ "$(id -u)" = 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq "$@" >/dev/null
}

step "QEMU for the Cortex-M4F firmware, Chromium for the pages, PostgreSQL and mosquitto for the fleet"
missing=()
command -v qemu-system-arm >/dev/null || missing+=(qemu-system-arm)
command -v chromium >/dev/null || missing+=(chromium)
command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
if [ ${#missing[@]} -gt 0 ]; then
    apt_install "${missing[@]}"
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "unsafe code in vigie-core only in core/src/arch.rs"
if grep -rn "allow(unsafe_code)" core/src | grep -v "^core/src/arch.rs:"; then
    echo "error: only core/src/arch.rs may allow unsafe code in vigie-core (above)" >&2
    exit 1
fi

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

step "tests (PostgreSQL and mosquitto on the loopback address for the fleet)"
log=$(mktemp)
# shellcheck source=tests/servers.sh
. tests/servers.sh
trap 'stop_servers; rm -f "$log"' EXIT
start_postgres
start_mosquitto
cargo test --workspace --release 2>&1 | tee "$log"
stop_servers
passed=$(grep -Eo '^test result: ok\. [0-9]+ passed' "$log" | grep -Eo '[0-9]+ passed' | awk '{ s += $1 } END { print s + 0 }')

step "firmware: lints for QEMU and both boards, board builds, costs in QEMU"
fw_target=${CARGO_TARGET_DIR:-$PWD/firmware-demo/target}
(
    cd firmware-demo
    cargo fmt -- --check
    cargo clippy --release --target-dir "$fw_target/firmware-basicmotions" -- -D warnings
    cargo clippy --release --features digits --target-dir "$fw_target/firmware-digits" -- -D warnings
    for m in mlperf-ad01 mlperf-kws mlperf-vww mlperf-ic; do
        cargo clippy --release --bin mlperf --features "$m" --target-dir "$fw_target/firmware-$m" -- -D warnings
    done
    cargo clippy --release --bin verify_bench --features verify-bench \
        --target-dir "$fw_target/firmware-verify" -- -D warnings
    cargo clippy --release --bin update --target-dir "$fw_target/firmware-update" -- -D warnings
    # The probe-rs/defmt builds for real boards compile and link here; no
    # board is attached, so they are not run.
    for board in nrf52840 stm32f411; do
        cargo clippy --release --no-default-features --features "$board" \
            --target-dir "$fw_target/firmware-$board" -- -D warnings
        cargo build --release --no-default-features --features "$board" \
            --target-dir "$fw_target/firmware-$board"
    done
    # The replay itself was checked line by line against the host by the
    # tests (tests/tests/firmware_matches_host.rs); here its costs.
    for model in basicmotions digits basicmotions-adapt; do
        features=()
        [ "$model" = digits ] && features=(--features digits)
        [ "$model" = basicmotions-adapt ] && features=(--features adapt)
        out=$(timeout 120 cargo run --release --quiet "${features[@]}" --target-dir "$fw_target/firmware-$model")
        grep -E '^(model|signature|stream|explain|summary|reports|cost|memory|result)' <<<"$out"
        grep -qx 'result: ok' <<<"$out"
    done
    # A model update through two slots (the candidate read from the host).
    out=$(timeout 120 cargo run --release --quiet --bin update --target-dir "$fw_target/firmware-update")
    grep -E '^(boot|candidate|tampered|update|result)' <<<"$out"
    grep -qx 'result: ok' <<<"$out"
    # MLPerf Tiny's models, imported from their .tflite: their costs, and
    # their outputs against TFLite's.
    for m in mlperf-ad01 mlperf-kws mlperf-vww mlperf-ic; do
        out=$(timeout 120 cargo run --release --quiet --bin mlperf --features "$m" \
            --target-dir "$fw_target/firmware-$m")
        grep -E '^(model|cost|outputs|board|memory|result)' <<<"$out"
        grep -qx 'result: ok' <<<"$out"
    done
)

echo
# The fleet's server tests that could not run say SKIPPED in their own
# output; they are listed here too, never silently green.
[ -n "${VIGIE_TEST_POSTGRES:-}" ] || echo "SKIPPED: the fleet tests on PostgreSQL (it did not start; see above, or apt-get install postgresql)"
[ -n "${VIGIE_TEST_MQTT:-}" ] || echo "SKIPPED: the fleet's MQTT test (mosquitto did not start; see above, or apt-get install mosquitto)"
echo "vigie: $((passed + 1)) passed, 0 failed"
