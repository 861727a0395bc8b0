"""Compare INR studies that differ only in Global Glance sampling (uniform vs weighted).

Each argument is ``LABEL=STUDY_DIR`` (a folder written by ``msglance inr study``); the first
is the reference. Runs are paired by (image, seed) across studies and summarised with
``msglance.inr.summary`` (PSNR/SSIM mean ± std, paired ΔPSNR to the reference, wins), per
image and over all images, as Markdown on stdout. ΔSSIM (paired mean ± std) is printed too.

    python benchmarks/glance_weights_inr.py uniform=runs/uniform gradient=runs/gradient
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from pathlib import Path

import numpy as np

from msglance.inr.study import CONFIG_NAME, read_runs
from msglance.inr.summary import study_table, summarize_runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("studies", nargs="+", help="LABEL=STUDY_DIR, the reference first")
    args = parser.parse_args()
    records, labels = [], []
    for item in args.studies:
        label, sep, folder = item.partition("=")
        if not sep:
            parser.error(f"expected LABEL=STUDY_DIR, got {item!r}")
        config = json.loads((Path(folder) / CONFIG_NAME).read_text())
        print(f"- `{label}`: {folder}, position_weights = {config.get('position_weights')}")
        labels.append(label)
        for r in read_runs(folder):
            records.append(dataclasses.replace(r, loss=f"{r.loss} [{label}]"))
    order = list(dict.fromkeys(r.loss for r in records))
    ref = next(o for o in order if o.endswith(f"[{labels[0]}]"))
    order = [ref] + [o for o in order if o != ref]
    images = list(dict.fromkeys(r.image for r in records))
    per_image = [dataclasses.replace(r, dataset=r.image) for r in records]
    overall = [dataclasses.replace(r, dataset="all: " + ", ".join(images)) for r in records]
    print()
    print(study_table(summarize_runs(per_image, order) + summarize_runs(overall, order)))
    ref_ssim = {(r.image, r.seed): r.ssim for r in records if r.loss == ref}
    for loss in order[1:]:
        d = [r.ssim - ref_ssim[(r.image, r.seed)] for r in records
             if r.loss == loss and (r.image, r.seed) in ref_ssim
             and math.isfinite(r.ssim) and math.isfinite(ref_ssim[(r.image, r.seed)])]
        if d:
            print(f"paired ΔSSIM `{loss}` vs `{ref}`: {np.mean(d):+.4f} ± {np.std(d):.4f} "
                  f"({len(d)} pairs, {sum(x > 0 for x in d)} higher)")


if __name__ == "__main__":
    main()
