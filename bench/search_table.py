#!/usr/bin/env python3
"""The model search over every data set there is, as the README's table:
`vigie train` with no flag but `--data`, `--target`, `--test` (and
`--impute median` for penguins), one set after another, and for each the
int8 and float test accuracy, the gap in points, the majority class, the
cheap baseline, the chosen network, MACs, flash, RAM (arena plus monitor
state) and the wall time of the whole command. Then the median and the
worst case of the int8 loss, of the lead over the cheap baseline, and of
the time.

Standard library only; the tests never run it.

    cargo build --release -p vigie-trainer
    python3 bench/search_table.py --vigie target/release/vigie \
        [--ucr /tmp/ucr] [--external /tmp/external] [--only digits,osuleaf]

`--ucr` is the folder `bench/ucr_from_sktime.py` writes (ArrowHead,
GunPoint, ItalyPowerDemand) and `--external` the one
`bench/external_sets.py` writes (label column `label`): public sets that
are not in the repository, so that the table is not only of the sets the
search was developed on.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"

# The bundled sets: (name, arguments after `vigie train`).
BUNDLED = [
    ("digits", ["--data", DATA / "digits.csv", "--target", "digit"]),
    ("winequality-red", ["--data", DATA / "winequality-red.csv", "--target", "quality"]),
    ("penguins", ["--data", DATA / "penguins.csv", "--target", "species", "--impute", "median"]),
    ("basicmotions", ["--data", DATA / "basicmotions_train.csv", "--test",
                      DATA / "basicmotions_test.csv", "--target", "activity"]),
    ("japanesevowels", ["--data", DATA / "japanesevowels_train.csv", "--test",
                        DATA / "japanesevowels_test.csv", "--target", "label"]),
    ("osuleaf", ["--data", DATA / "osuleaf_train.csv", "--test",
                 DATA / "osuleaf_test.csv", "--target", "label"]),
    ("acsf1", ["--data", DATA / "acsf1_train.csv", "--test",
               DATA / "acsf1_test.csv", "--target", "label"]),
    ("diamonds", ["--data", DATA / "diamonds.csv", "--target", "cut"]),
]


def sets(args):
    out = list(BUNDLED)
    if args.ucr:
        for train in sorted(Path(args.ucr).glob("*_train.csv")):
            name = train.name[: -len("_train.csv")]
            test = train.with_name(f"{name}_test.csv")
            out.append((name, ["--data", train, "--test", test, "--target", "label"]))
    if args.external:
        for f in sorted(Path(args.external).glob("*.csv")):
            out.append((f.stem, ["--data", f, "--target", "label"]))
    if args.only:
        keep = set(args.only.split(","))
        out = [s for s in out if s[0] in keep]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vigie", required=True, help="the vigie binary")
    ap.add_argument("--ucr", help="folder of bench/ucr_from_sktime.py's sets")
    ap.add_argument("--external", help="folder of bench/external_sets.py's sets")
    ap.add_argument("--only", help="comma-separated set names")
    args = ap.parse_args()
    rows = []
    print("| set | int8 | float | int8 - float (points) | majority | cheap baseline "
          "| chosen | MACs | flash B | RAM B | time |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, train_args in sets(args):
            out = Path(tmp) / f"{name}.vigie"
            cmd = [args.vigie, "train", *map(str, train_args), "--out", str(out), "--json", "--quiet"]
            start = time.monotonic()
            run = subprocess.run(cmd, capture_output=True, text=True)
            seconds = time.monotonic() - start
            try:
                s = json.loads(run.stdout)
            except json.JSONDecodeError:
                print(f"| {name} | failed (exit {run.returncode}): "
                      f"{run.stderr.strip().splitlines()[-1:]} |")
                continue
            int8, flt = s["int8"].get("accuracy"), s["float"].get("accuracy")
            if int8 is None:
                print(f"| {name} | regression: int8 MAE {s['int8'].get('mae')} |")
                continue
            b = s.get("baselines") or {}
            gap = round(int8 * 100, 1) - round(flt * 100, 1)
            ram = s["arena_bytes"] + s["monitor_state_bytes"] + s["adaptation_state_bytes"]
            chosen = (s.get("search") or {}).get("chosen", "(config)")
            print(f"| {name} | {int8:.3f} | {flt:.3f} | {gap:+.1f} | {b.get('majority', 0):.3f} "
                  f"| {b.get('cheap', '-')} {b.get('cheap_score', 0):.3f} | {chosen} "
                  f"| {s['macs']:,} | {s['device_bytes']:,} | {ram:,} | {seconds:.0f} s |",
                  flush=True)
            rows.append((name, gap, int8 - b.get("cheap_score", 0), seconds))
    if not rows:
        sys.exit(1)

    def line(what, values, worst, fmt):
        w = worst(values, key=lambda v: v[1])
        median = statistics.median(v[1] for v in values)
        print(f"{what}: median {median:{fmt}}, worst {w[1]:{fmt}} ({w[0]})")

    print()
    line("int8 - float (points)", [(n, g) for n, g, _, _ in rows], min, "+.1f")
    line("int8 - cheap baseline", [(n, l) for n, _, l, _ in rows], min, "+.3f")
    line("time (s)", [(n, t) for n, _, _, t in rows], max, ".0f")


if __name__ == "__main__":
    main()
