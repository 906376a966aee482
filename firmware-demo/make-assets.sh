#!/usr/bin/env bash
# Writes the models and replay streams the firmware embeds (models/), from
# the bundled data, with fixed seeds. Run from anywhere:
#   firmware-demo/make-assets.sh
# A test (host-trainer/tests/cli.rs) runs this script with VIGIE set to the
# built binary and VIGIE_ASSETS to a scratch folder, and checks that the
# committed files are byte for byte what it writes.
set -euo pipefail
cd "$(dirname "$0")/.."
vigie() {
    if [ -n "${VIGIE:-}" ]; then "$VIGIE" "$@"; else cargo run --quiet --release -p vigie-trainer -- "$@"; fi
}
out=${VIGIE_ASSETS:-firmware-demo/models}
# The full models (with their training reports) stay here; the firmware
# embeds copies stripped of the host-only sections (`vigie strip`) and
# signed with the demo key (keys/README.md): it runs only signed models.
full=$(mktemp -d)
trap 'rm -rf "$full"' EXIT

# Both models train the library defaults (examples/defaults.toml), not a
# model search: the firmware's committed figures (instructions per
# inference, stack, flash) are measured on these.

# Smartwatch activity recognition: BasicMotions 1-D CNN; its 40 test
# windows, then the same windows with a bias of +3 on the accelerometer's
# x axis (windows 40-59), then that axis stuck (60-79).
bm=(--data data/basicmotions_train.csv --test data/basicmotions_test.csv --target activity --seed 0)
vigie train "${bm[@]}" --config examples/defaults.toml --quiet --out "$full/basicmotions.vigie" >/dev/null
vigie strip --model "$full/basicmotions.vigie" --out $out/basicmotions.vigie
vigie sign --model $out/basicmotions.vigie --key firmware-demo/keys/demo.key >/dev/null
vigie stream "${bm[@]}" --model $out/basicmotions.vigie --windows 40 \
    --fault-channel acc_x --offset 3 --out $out/basicmotions.replay

# Handwritten digits: the digits MLP; 40 of its held-out test rows, then
# the same rows with pixel px36 gained ×2.5 (rows 40-59), then stuck.
dg=(--data data/digits.csv --target digit --seed 0)
vigie train "${dg[@]}" --config examples/defaults.toml --quiet --out "$full/digits.vigie" >/dev/null
vigie strip --model "$full/digits.vigie" --out $out/digits.vigie
vigie sign --model $out/digits.vigie --key firmware-demo/keys/demo.key >/dev/null
vigie stream "${dg[@]}" --model $out/digits.vigie --windows 40 \
    --fault-channel px36 --gain 2.5 --out $out/digits.replay

# Adaptation (`--features adapt`): the BasicMotions CNN trained with
# --adapt, and 750 windows drawn from its 40 test windows, the
# accelerometer's x axis offset by +7 (one training deviation) from
# window 100: drift, correction, recovery, confirmation.
vigie train "${bm[@]}" --config examples/defaults.toml --adapt --quiet --out "$full/basicmotions-adapt.vigie" >/dev/null
vigie strip --model "$full/basicmotions-adapt.vigie" --out $out/basicmotions-adapt.vigie
vigie sign --model $out/basicmotions-adapt.vigie --key firmware-demo/keys/demo.key >/dev/null
vigie stream "${bm[@]}" --model $out/basicmotions-adapt.vigie --windows 40 \
    --steps 750 --fault-from 100 --fault-channel acc_x --offset 7 \
    --out $out/basicmotions-adapt.replay
