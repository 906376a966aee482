#!/usr/bin/env bash
# Flash and RAM of the firmware, per section (llvm-size from rustup's
# llvm-tools) and the code per crate (llvm-nm; code that LTO inlined into
# the firmware's `main` counts as the firmware's). Usage, from anywhere:
#   firmware-demo/size.sh            # BasicMotions CNN build
#   firmware-demo/size.sh digits     # digits MLP build
set -euo pipefail
cd "$(dirname "$0")"
features=()
name=basicmotions
if [ "${1:-}" = digits ]; then features=(--features digits); name=digits; fi
rustup component add llvm-tools >/dev/null 2>&1 || true
bin=$(dirname "$(find "$(rustc --print sysroot)" -name llvm-size -type f | head -1)")
[ -x "$bin/llvm-size" ] || { echo "llvm-size not found: rustup component add llvm-tools" >&2; exit 1; }
target_dir=target/size-$name
cargo build --release --quiet --target-dir "$target_dir" "${features[@]}"
elf=$target_dir/thumbv7em-none-eabihf/release/vigie-firmware-demo
"$bin/llvm-size" -A "$elf" | awk '$1 ~ /^\.(vector_table|text|rodata|data|bss|uninit)$/'
model=$(stat -c %s "models/$name.vigie")
stream=$(stat -c %s "models/$name.replay")
echo "model file $model bytes, stream $stream bytes (both in .rodata)"
echo "code (.text) by crate:"
"$bin/llvm-nm" -S --size-sort -C --radix=d "$elf" | awk '$3 ~ /^[tT]$/ {
    name = $0; sub(/^[^ ]+ [^ ]+ [^ ]+ /, "", name)
    crate = "other"
    if (name ~ /vigie_core/) crate = "vigie-core"
    else if (name ~ /vigie_firmware_demo/) crate = "firmware-with-inlined-core"
    else if (name ~ /compiler_builtins|__aeabi/) crate = "compiler-builtins"
    else if (name ~ /serde|postcard|heapless|crc/) crate = "serde-postcard-heapless-crc"
    else if (name ~ /core::|core\.\./) crate = "rust-core-library"
    size[crate] += $2 + 0
} END { for (c in size) printf "  %-32s %7d bytes\n", c, size[c] }' | sort
echo "vigie-core's own code (size probe: .text with it minus .text without it):"
probe() {
    cargo build --release --quiet --bin size-probe --target-dir "target/size-probe$1" ${2:+--features "$2"}
    "$bin/llvm-size" -A "target/size-probe$1/thumbv7em-none-eabihf/release/size-probe" | awk '$1 == ".text" { print $2 }'
}
base=$(probe -base "")
engine=$(probe -engine probe-core)
whole=$(probe -monitor probe-core,probe-monitor)
echo "  load, validate, run, decide:    $((engine - base)) bytes"
echo "  the monitor on top:             $((whole - engine)) bytes"
echo "  together:                       $((whole - base)) bytes"
signature=$(probe -signature probe-signature)
echo "  Ed25519 verification (alone):   $((signature - base)) bytes (ed25519-compact, opt_size)"
dalek=$(probe -dalek verify-bench)
echo "  the same with ed25519-dalek:    $((dalek - base)) bytes"
