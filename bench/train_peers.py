#!/usr/bin/env python3
"""Training benchmark: vigie against scikit-learn's MLPClassifier(64), side
by side on the same splits, in one run.

For every data set found, the script writes one training file and one test
file (the given split for the time-series sets; a seeded stratified 80/20
split otherwise), then:

- runs `vigie train --data TRAIN --test TEST --json` with its defaults (the
  model search), and reads its int8 test accuracy;
- fits StandardScaler + MLPClassifier(hidden_layer_sizes=(64,)) on the same
  training rows and scores it on the same test rows;
- prints both accuracies, both wall times, and vigie's time over
  scikit-learn's (the ratio), with the median and the worst case.

vigie's time is the whole `vigie train` process: reading, data checks,
search, training, quantization, calibration, monitor fitting and the
evaluation through vigie-core. scikit-learn's is its `fit` alone.

Usage:
    python3 -m venv /tmp/bench && /tmp/bench/bin/pip install -r bench/requirements.txt
    cargo build --release -p vigie-trainer
    /tmp/bench/bin/python bench/train_peers.py --vigie target/release/vigie \
        --data-dir data --data-dir ../shared/data [--only digits,diamonds]
"""

import argparse
import csv
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

# name, training file, test file (None: split 80/20), label column
SETS = [
    ("digits", "digits.csv", None, "digit"),
    ("winequality-red", "winequality-red.csv", None, "quality"),
    ("diamonds", "diamonds.csv", None, "cut"),
    ("basicmotions", "basicmotions_train.csv", "basicmotions_test.csv", "activity"),
    ("japanesevowels", "japanesevowels_train.csv", "japanesevowels_test.csv", "label"),
    ("osuleaf", "osuleaf_train.csv", "osuleaf_test.csv", "label"),
    ("acsf1", "acsf1_train.csv", "acsf1_test.csv", "label"),
]


def read(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def numeric(header, rows, label):
    """Features as floats (rows with a non-numeric feature cell are kept with
    NaN, then the column mean), labels as strings."""
    li = header.index(label)
    x, y = [], []
    for r in rows:
        vals = []
        for i, c in enumerate(r):
            if i == li:
                continue
            try:
                vals.append(float(c))
            except ValueError:
                vals.append(float("nan"))
        x.append(vals)
        y.append(r[li])
    x = np.array(x, dtype=np.float64)
    return x, np.array(y)


def stratified_split(rows, header, label, seed=0, test=0.2):
    """A seeded stratified split in which rows repeating the same features
    stay on one side (the training side), as vigie's own split does: a test
    row that is also a training row would inflate both peers' figures."""
    li = header.index(label)
    by = {}
    for i, r in enumerate(rows):
        by.setdefault(r[li], []).append(i)
    rng = random.Random(seed)
    held = set()
    for idx in by.values():
        rng.shuffle(idx)
        held.update(idx[: round(len(idx) * test)])
    key = lambda r: tuple(c for j, c in enumerate(r) if j != li)
    in_train = {key(rows[i]) for i in range(len(rows)) if i not in held}
    held = {i for i in held if key(rows[i]) not in in_train}
    train = [i for i in range(len(rows)) if i not in held]
    return [rows[i] for i in train], [rows[i] for i in sorted(held)]


def write(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def run_vigie(vigie, train, test, label, out, budget=None):
    start = time.perf_counter()
    extra = ["--time-budget", str(budget)] if budget else []
    p = subprocess.run(
        [vigie, "train", "--data", train, "--test", test, "--target", label,
         "--out", out, "--force", "--json", "--quiet"] + extra,
        capture_output=True, text=True)
    wall = time.perf_counter() - start
    if p.returncode not in (0, 3):
        sys.exit(f"vigie failed on {train}:\n{p.stderr}")
    s = json.loads(p.stdout)
    return s["int8"]["accuracy"], s["float"]["accuracy"] if s.get("float") else None, wall, s


def run_sklearn(train_rows, test_rows, header, label):
    xtr, ytr = numeric(header, train_rows, label)
    xte, yte = numeric(header, test_rows, label)
    means = np.nanmean(xtr, axis=0)
    for x in (xtr, xte):
        bad = np.isnan(x)
        x[bad] = np.take(means, np.nonzero(bad)[1])
    start = time.perf_counter()
    scaler = StandardScaler().fit(xtr)
    mlp = MLPClassifier(hidden_layer_sizes=(64,), max_iter=200, random_state=0)
    mlp.fit(scaler.transform(xtr), ytr)
    wall = time.perf_counter() - start
    acc = float((mlp.predict(scaler.transform(xte)) == yte).mean())
    return acc, wall


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vigie", default="target/release/vigie")
    ap.add_argument("--data-dir", action="append", default=[])
    ap.add_argument("--only", default="")
    ap.add_argument("--sweep", default="",
                    help="time budgets to try (e.g. 2,5,10,20,40): report the least wall "
                         "time at which vigie's int8 accuracy reaches scikit-learn's")
    args = ap.parse_args()
    sweep = [float(b) for b in args.sweep.split(",") if b]
    dirs = args.data_dir or ["data"]
    only = set(filter(None, args.only.split(",")))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, train_file, test_file, label in SETS:
            if only and name not in only:
                continue
            found = next((d for d in dirs if os.path.exists(os.path.join(d, train_file))), None)
            if not found:
                continue
            header, rows = read(os.path.join(found, train_file))
            if test_file:
                h2, test_rows = read(os.path.join(found, test_file))
                train_rows = rows
            else:
                train_rows, test_rows = stratified_split(rows, header, label)
            tr, te = os.path.join(tmp, f"{name}_train.csv"), os.path.join(tmp, f"{name}_test.csv")
            write(tr, header, train_rows)
            write(te, header, test_rows)
            v_acc, v_float, v_wall, summary = run_vigie(
                args.vigie, tr, te, label, os.path.join(tmp, f"{name}.vigie"))
            s_acc, s_wall = run_sklearn(train_rows, test_rows, header, label)
            results.append((name, v_acc, v_float, v_wall, s_acc, s_wall,
                            summary.get("device_bytes"), summary.get("macs")))
            for budget in sweep:
                b_acc, _, b_wall, _ = run_vigie(
                    args.vigie, tr, te, label, os.path.join(tmp, f"{name}-{budget}.vigie"), budget)
                reached = b_acc >= s_acc
                print(f"{name:16}   --time-budget {budget:>5}: int8 {b_acc:.3f} in {b_wall:6.1f} s"
                      f" ({b_wall / s_wall:5.2f}x scikit-learn's time)"
                      f"{'  reaches the peer' if reached else ''}", flush=True)
                if reached:
                    break
            print(f"{name:16} vigie int8 {v_acc:.3f} (float {v_float:.3f}) in {v_wall:6.1f} s"
                  f" | scikit-learn MLP(64) {s_acc:.3f} in {s_wall:6.1f} s"
                  f" | time ratio {v_wall / s_wall:5.2f}"
                  f" | accuracy {'>=' if v_acc >= s_acc else '< '} peer", flush=True)
    if not results:
        sys.exit("no data set found; pass --data-dir")
    ratios = [r[3] / r[5] for r in results]
    gaps = [r[1] - r[4] for r in results]
    print()
    print(f"time ratio vigie/scikit-learn: median {statistics.median(ratios):.2f}, worst {max(ratios):.2f}")
    print(f"int8 accuracy minus peer:      median {statistics.median(gaps):+.3f}, worst {min(gaps):+.3f}")


if __name__ == "__main__":
    main()
