"""Writes public UCR/UEA time-series sets that are not in the repository as
vigie CSVs (`<channel>_t<i>` columns, then `label`), for checking the model
search on data it was never tuned on. The sets come from the sktime wheel,
which ships them (PyPI is reachable where the web is not):

    pip download sktime==0.34.0 --no-deps -d /tmp/skt
    python bench/ucr_from_sktime.py /tmp/skt/sktime-0.34.0-py3-none-any.whl /tmp/ucr

Standard library only. Sets of equal-length series only."""
import csv
import sys
import zipfile
from pathlib import Path

SETS = ["ArrowHead", "GunPoint", "ItalyPowerDemand"]


def rows(text):
    data = False
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.lower().startswith("@data"):
            data = True
            continue
        if data:
            *dims, label = line.split(":")
            yield [[float(v) for v in d.split(",")] for d in dims], label


def main(wheel, out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as z:
        for name in SETS:
            for part in ["TRAIN", "TEST"]:
                text = z.read(f"sktime/datasets/data/{name}/{name}_{part}.ts").decode()
                series = list(rows(text))
                channels = len(series[0][0])
                length = len(series[0][0][0])
                names = ["value"] if channels == 1 else [f"dim{c}" for c in range(channels)]
                path = out / f"{name.lower()}_{part.lower()}.csv"
                with open(path, "w", newline="") as f:
                    w = csv.writer(f)
                    w.writerow([f"{n}_t{i}" for n in names for i in range(length)] + ["label"])
                    for dims, label in series:
                        w.writerow([v for d in dims for v in d] + [label])
                print(f"{path}: {len(series)} rows, {channels} x {length}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
