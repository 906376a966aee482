#!/usr/bin/env python3
"""Writes public data sets that are not in the repository as CSV files
(label column `label`), from the copies bundled with scikit-learn and river,
so that `vigie drift-bench` can be checked on data it was never developed on:

    python bench/external_sets.py /tmp/external
    for f in /tmp/external/*.csv; do
        vigie drift-bench --data $f --target label --test-split 0.3 --runs 20 --stable-rows 100000
    done

Requirements: bench/requirements-drift.txt (river) and scikit-learn.
"""

import csv
import gzip
import io
import sys
import zipfile
from pathlib import Path


def write(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    print(f"{path}: {len(rows)} rows, {len(header) - 1} features")


def write_labelled(path, table, label_column):
    """A CSV table (header first) with its label column moved last, as `label`."""
    header, rows = table[0], table[1:]
    label = header.index(label_column)
    write(
        path,
        [h for i, h in enumerate(header) if i != label] + ["label"],
        [[c for i, c in enumerate(row) if i != label] + [row[label]] for row in rows],
    )


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "external")
    out.mkdir(parents=True, exist_ok=True)
    from sklearn import datasets

    for name, loader in [
        ("breast_cancer", datasets.load_breast_cancer),
        ("sklearn_wine", datasets.load_wine),
        ("iris", datasets.load_iris),
    ]:
        b = loader()
        header = [f.replace(" ", "_") for f in b.feature_names] + ["label"]
        rows = [list(x) + [str(b.target_names[y])] for x, y in zip(b.data, b.target)]
        write(out / f"{name}.csv", header, rows)

    import river.datasets as rd

    base = Path(rd.__file__).parent
    # Image segments (UCI), 2,310 rows, 18 features; phishing web pages,
    # 1,250 rows, 9 features.
    with zipfile.ZipFile(base / "segment.csv.zip") as z:
        text = z.read(z.namelist()[0]).decode()
    write_labelled(out / "segment.csv", list(csv.reader(io.StringIO(text))), "category")
    with gzip.open(base / "phishing.csv.gz", "rt") as f:
        write_labelled(out / "phishing.csv", list(csv.reader(f)), "is_phishing")

if __name__ == "__main__":
    main()
