#!/usr/bin/env python3
"""fairlearn's figures for the predictions that pin down `vigie eval
--group`'s definitions (host-trainer/tests/groups.rs reads both files).

    python3 -m venv /tmp/fl && /tmp/fl/bin/pip install -r bench/requirements-groups.txt
    /tmp/fl/bin/python bench/groups_fairlearn.py host-trainer/tests/data

Writes `fairlearn_predictions.csv` (group, y_true, y_pred: 600 binary
predictions in three groups, each with its own error rates, drawn from a
fixed linear congruential sequence so that the file is the same anywhere)
and `fairlearn_expected.json`: MetricFrame's by-group accuracy,
selection rate, false-positive and false-negative rates (positive label
1), demographic_parity_difference and equalized_odds_difference (between
groups), and the accuracy difference (MetricFrame.difference()).
For a regression, `fairlearn_regression.csv` (450 rows in three groups,
each with its own error and bias) and, under "regression" in the same
JSON: MetricFrame's by-group mean absolute error and mean error
(prediction less truth) and their MetricFrame.difference().
Requirements: bench/requirements-groups.txt (the tests never need them).
"""

import json
import sys
from pathlib import Path

import numpy as np
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    equalized_odds_difference,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
)
from sklearn.metrics import accuracy_score


def rows():
    """600 rows: group a, b, c in turn; truth 1 on about 40%; the
    prediction flips the truth with a group's own probability for each
    truth (a: 5% / 5%, b: 30% / 10%, c: 15% / 25%)."""
    state = 12345
    flips = {"a": (0.05, 0.05), "b": (0.30, 0.10), "c": (0.15, 0.25)}

    def uniform():
        nonlocal state
        state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        return (state >> 11) / float(1 << 53)

    out = []
    for i in range(600):
        g = "abc"[i % 3]
        truth = 1 if uniform() < 0.4 else 0
        flip = flips[g][truth]
        pred = 1 - truth if uniform() < flip else truth
        out.append((g, truth, pred))
    return out


def value_rows():
    """450 rows: group a, b, c in turn; truth uniform in [0, 10); the
    prediction adds a group's bias and a uniform error of its width
    (a: +0 ± 0.5, b: +0.4 ± 1.5, c: -0.2 ± 1.0). Values are written and
    read back at full precision (repr)."""
    state = 777
    spec = {"a": (0.0, 0.5), "b": (0.4, 1.5), "c": (-0.2, 1.0)}

    def uniform():
        nonlocal state
        state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        return (state >> 11) / float(1 << 53)

    out = []
    for i in range(450):
        g = "abc"[i % 3]
        truth = 10.0 * uniform()
        bias, width = spec[g]
        pred = truth + bias + width * (2.0 * uniform() - 1.0)
        out.append((g, truth, pred))
    return out


def regression(folder):
    from sklearn.metrics import mean_absolute_error

    data = value_rows()
    with open(folder / "fairlearn_regression.csv", "w") as f:
        f.write("group,y_true,y_pred\n")
        for g, t, p in data:
            f.write(f"{g},{t!r},{p!r}\n")
    groups = np.array([r[0] for r in data])
    y_true = np.array([r[1] for r in data])
    y_pred = np.array([r[2] for r in data])
    frame = MetricFrame(
        metrics={
            "mean_absolute_error": mean_absolute_error,
            "mean_error": lambda t, p: float(np.mean(p - t)),
        },
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=groups,
    )
    diff = frame.difference()
    return {
        "by_group": {
            g: {k: float(v) for k, v in frame.by_group.loc[g].items()}
            for g in frame.by_group.index
        },
        "mean_absolute_error_difference": float(diff["mean_absolute_error"]),
        "mean_error_difference": float(diff["mean_error"]),
    }


def main():
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    data = rows()
    with open(folder / "fairlearn_predictions.csv", "w") as f:
        f.write("group,y_true,y_pred\n")
        for g, t, p in data:
            f.write(f"{g},{t},{p}\n")
    groups = np.array([r[0] for r in data])
    y_true = np.array([r[1] for r in data])
    y_pred = np.array([r[2] for r in data])
    frame = MetricFrame(
        metrics={
            "accuracy": accuracy_score,
            "selection_rate": selection_rate,
            "false_positive_rate": false_positive_rate,
            "false_negative_rate": false_negative_rate,
        },
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=groups,
    )
    expected = {
        "by_group": {
            g: {k: float(v) for k, v in frame.by_group.loc[g].items()}
            for g in frame.by_group.index
        },
        "accuracy_difference": float(frame.difference()["accuracy"]),
        "demographic_parity_difference": float(
            demographic_parity_difference(y_true, y_pred, sensitive_features=groups)
        ),
        "equalized_odds_difference": float(
            equalized_odds_difference(y_true, y_pred, sensitive_features=groups)
        ),
    }
    expected["regression"] = regression(folder)
    with open(folder / "fairlearn_expected.json", "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")
    print(json.dumps(expected, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
