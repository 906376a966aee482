#!/usr/bin/env python3
"""Drift detectors of river and alibi-detect on the very streams vigie's
drift benchmark replayed, side by side with vigie's figures.

    vigie drift-bench --data data/winequality-red.csv --target quality \
        --runs 10 --stable-rows 20000 --dump /tmp/wine-streams
    python bench/drift_peers.py /tmp/wine-streams

The dump holds the monitored features of each stream (a window model's
channel means and spreads), the rows vigie's reference was fitted on, and
vigie's outcome on each stream (`vigie.json`). The peers are univariate, so
each runs one detector per feature and splits the false-alarm budget
between them (Bonferroni):

- river ADWIN (delta / F), KSWIN (alpha / F), PageHinkley (on features
  standardized by the reference, threshold lambda);
- alibi-detect's CVMDriftOnline (windows 20 and 40, expected run time
  10,000 rows, thresholds bootstrapped from the reference rows).

River's parameters are matched to vigie's false-alarm rate: each is tried
from the most sensitive setting down, on the same stable stream, and the
first whose false alarms per 10,000 rows are no more than
max(vigie's, 1) is kept. CVMDriftOnline keeps its own promise (ERT 10,000).

A peer is "ahead" on a scenario when its median delay is shorter at no more
false alarms; a scenario it never detects is a miss, not a tie.

CVMDriftOnline's false alarms are what they are (more than its promise on
small references). To compare at matched rates, give `--matched DIR`: a
second dump of the same streams (same data, seed and runs) with vigie
calibrated for a higher rate (`vigie drift-bench … --false-alarm-rate R
--dump DIR`). Its delays get a column of their own, "ahead of" judged at
its own false-alarm rate.
Requirements: bench/requirements-drift.txt (the tests never need them).
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np


def load(path):
    with open(path) as f:
        header = f.readline().strip().split(",")
    data = np.genfromtxt(path, delimiter=",", skip_header=1, dtype=np.float64)
    if data.ndim == 1:
        data = data.reshape(-1, len(header))
    return header, data


class PerFeature:
    """One river detector per feature; an alarm when any of them fires."""

    def __init__(self, make, features, scale=None):
        self.detectors = [make() for _ in range(features)]
        self.scale = scale

    def update(self, row):
        fired = False
        for j, d in enumerate(self.detectors):
            v = row[j]
            if not math.isfinite(v):
                continue
            if self.scale is not None:
                m, s = self.scale
                v = (v - m[j]) / s[j]
            d.update(v)
            if d.drift_detected:
                fired = True
        return fired


def river_peers(reference, features):
    from river import drift

    m = np.nanmean(reference, axis=0)
    s = np.nanstd(reference, axis=0)
    s[~(s > 1e-12)] = 1.0
    return {
        # name: (list of settings from most to least sensitive, factory)
        "ADWIN": (
            [0.2, 0.05, 0.01, 2e-3, 2e-4, 2e-5, 2e-6, 2e-7, 2e-8],
            lambda p: PerFeature(lambda: drift.ADWIN(delta=p / features), features),
        ),
        "KSWIN": (
            [1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8],
            lambda p: PerFeature(
                lambda: drift.KSWIN(alpha=p / features, window_size=100, stat_size=30, seed=1),
                features,
            ),
        ),
        "PageHinkley": (
            [10.0, 20.0, 40.0, 60.0, 80.0, 100.0, 120.0, 140.0, 160.0, 200.0, 240.0, 320.0, 640.0],
            lambda p: PerFeature(
                lambda: drift.PageHinkley(min_instances=30, delta=0.005, threshold=p, mode="both"),
                features,
                (m, s),
            ),
        ),
    }


class Cvm:
    """alibi-detect's online Cramér-von Mises detector over all features."""

    def __init__(self, reference):
        from alibi_detect.cd import CVMDriftOnline

        x = reference[np.all(np.isfinite(reference), axis=1)]
        t0 = time.time()
        self.cd = CVMDriftOnline(
            x_ref=x.astype(np.float64),
            ert=10_000,
            window_sizes=[20, 40],
            # Its thresholds are the 1 − 1/(ERT·F) quantiles of the
            # bootstrap: more draws than ERT·F are needed.
            n_bootstraps=int(1.2 * 10_000 * x.shape[1]),
            verbose=False,
        )
        self.setup_s = time.time() - t0

    def reset(self):
        self.cd.reset_state()
        return self

    def update(self, row):
        if not np.all(np.isfinite(row)):
            return False
        return bool(self.cd.predict(row.astype(np.float64))["data"]["is_drift"])


def false_alarms(detector, stable):
    alarms = 0
    for row in stable:
        alarms += bool(detector.update(row))
    return alarms * 10_000 / len(stable)


def replay(detector, stream, change_at):
    """False alarms before the change, and the delay of the first alarm after."""
    fa = 0
    for t, row in enumerate(stream):
        if detector.update(row):
            if t < change_at:
                fa += 1
            else:
                return fa, t - change_at
    return fa, None


def median(v):
    v = sorted(x for x in v if x is not None)
    return v[len(v) // 2] if v else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dump", type=Path, help="a folder written by `vigie drift-bench --dump`")
    ap.add_argument("--no-cvm", action="store_true", help="skip alibi-detect's CVMDriftOnline")
    ap.add_argument("--cvm-max-features", type=int, default=16,
                    help="skip CVMDriftOnline above this many features (its set-up needs "
                         "1.2·10^4·F bootstrap draws: about 6 minutes at 11 features here)")
    ap.add_argument("--json", type=Path, help="also write the table as JSON here")
    ap.add_argument("--runs", type=int, help="replay only the first RUNS runs of each scenario "
                    "(vigie's median is then taken over the same runs)")
    ap.add_argument("--matched", type=Path,
                    help="a dump of the same streams with vigie at another --false-alarm-rate: "
                         "its delays as a second vigie column")
    a = ap.parse_args()

    doc = json.loads((a.dump / "vigie.json").read_text())
    names, reference = load(a.dump / "reference.csv")
    _, stable = load(a.dump / doc["stable"]["file"])
    F = len(names)
    change_at = doc["change_at"]
    vigie_fa = doc["report"]["false_alarms_per_10k"]
    target = max(vigie_fa, 1.0)
    print(f"{doc['report']['data']}: {F} monitored features, {len(reference)} reference rows, "
          f"{len(stable)} stable rows; vigie {vigie_fa:.2f} false alarms / 10k")

    peers = {}
    for name, (settings, make) in river_peers(reference, F).items():
        chosen = None
        for p in settings:
            t0 = time.time()
            fa = false_alarms(make(p), stable)
            print(f"  {name} setting {p:g}: {fa:.2f} false alarms / 10k ({time.time() - t0:.0f} s)",
                  file=sys.stderr)
            if fa <= target:
                chosen = (p, fa)
                break
        if chosen is None:
            print(f"  {name}: no setting reaches {target:.2f} / 10k; its least sensitive kept",
                  file=sys.stderr)
            chosen = (settings[-1], fa)
        peers[name] = (lambda p=chosen[0], make=make: make(p), chosen)
    if not a.no_cvm and F > a.cvm_max_features:
        print(f"  CVMDriftOnline skipped: {F} features > --cvm-max-features", file=sys.stderr)
    elif not a.no_cvm:
        cvm = Cvm(reference)
        print(f"  CVMDriftOnline: threshold set-up {cvm.setup_s:.0f} s", file=sys.stderr)
        t0 = time.time()
        fa = false_alarms(cvm.reset(), stable)
        per_row_ms = 1000 * (time.time() - t0) / len(stable)
        peers["CVMDriftOnline"] = (lambda: cvm.reset(), ("ERT 10000", fa))
        print(f"  CVMDriftOnline: {fa:.2f} / 10k, {per_row_ms:.2f} ms a row", file=sys.stderr)

    by_scenario = {}
    for r in doc["runs"]:
        if a.runs is None or r["run"] < a.runs:
            by_scenario.setdefault(r["scenario"], []).append(r)
    # vigie at another false-alarm rate, on the same streams.
    matched, matched_fa = {}, None
    if a.matched:
        other = json.loads((a.matched / "vigie.json").read_text())
        matched_fa = other["report"]["false_alarms_per_10k"]
        for r in other["runs"]:
            if a.runs is None or r["run"] < a.runs:
                matched.setdefault(r["scenario"], []).append(r["vigie"]["delay"])
        print(f"vigie calibrated again for a higher rate ({a.matched}): {matched_fa:.2f} "
              f"false alarms / 10k on the same stable stream")
    rows = []
    mcol = f" {'vigie matched':>14}" if a.matched else ""
    header = (f"{'scenario':<26} {'vigie':>12}{mcol}" + "".join(f" {n:>16}" for n in peers)
              + "  ahead of" + ("  (matched: ahead of)" if a.matched else ""))
    print(f"\nmedian delay in rows (missed runs), false alarms / 10k on the stable stream in brackets")
    mfa = f" {matched_fa:>14.2f}" if a.matched else ""
    print(f"{'stable stream':<26} {vigie_fa:>12.2f}{mfa}"
          + "".join(f" {peers[n][1][1]:>16.2f}" for n in peers))
    print(f"{'setting':<26} {'':>12}{' ' * len(mcol)}"
          + "".join(f" {str(peers[n][1][0]):>16}" for n in peers))
    print(header)
    for scenario, runs in by_scenario.items():
        v_delays = [r["vigie"]["delay"] for r in runs]
        cells = {"vigie": (median(v_delays), sum(d is None for d in v_delays))}
        for name, (make, _) in peers.items():
            delays = []
            for r in runs:
                _, stream = load(a.dump / r["file"])
                _, d = replay(make(), stream, change_at)
                delays.append(d)
            cells[name] = (median(delays), sum(d is None for d in delays))
        def ahead_of(v, fa):
            out = []
            for name in peers:
                p = cells[name]
                fa_ok = fa <= peers[name][1][1] + 1e-9
                if v[0] is not None and fa_ok and (p[0] is None or v[0] < p[0]
                                                   or (v[0] == p[0] and v[1] < p[1])):
                    out.append(name)
            return out

        v = cells["vigie"]
        ahead = ahead_of(v, vigie_fa)
        fmt = lambda c: ("-" if c[0] is None else f"{c[0]}") + f" ({c[1]})"
        mcell, mahead = "", None
        if a.matched:
            md = matched.get(scenario, [])
            cells["vigie matched"] = (median(md), sum(d is None for d in md))
            mcell = f" {fmt(cells['vigie matched']):>14}"
            mahead = ahead_of(cells["vigie matched"], matched_fa)
        print(f"{scenario:<26} {fmt(v):>12}{mcell}" + "".join(f" {fmt(cells[n]):>16}" for n in peers)
              + "  " + (", ".join(ahead) if ahead else "none")
              + (("  (" + (", ".join(mahead) if mahead else "none") + ")") if a.matched else ""),
              flush=True)
        rows.append({"scenario": scenario, "runs": len(runs),
                     "cells": {k: {"median_delay": c[0], "missed": c[1]} for k, c in cells.items()},
                     "vigie_ahead_of": ahead,
                     "vigie_matched_ahead_of": mahead})
    if a.json:
        a.json.write_text(json.dumps({
            "data": doc["report"]["data"],
            "vigie_false_alarms_per_10k": vigie_fa,
            "vigie_matched_false_alarms_per_10k": matched_fa,
            "peers": {n: {"setting": str(peers[n][1][0]), "false_alarms_per_10k": peers[n][1][1]}
                      for n in peers},
            "scenarios": rows,
        }, indent=1))


if __name__ == "__main__":
    main()
