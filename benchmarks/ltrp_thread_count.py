"""Does the CPU thread count change LTRP training? (reproducibility check, not a speed test)

Trains, once with 1 intra-op thread and once with 2, the study's MAE on digits and on natural
crops and the supervised digits classifier (classes 0-4), each for a few epochs with the same
seed, each in a fresh process, and prints the largest absolute weight difference. A non-zero
difference means results are bit-exact only for a fixed thread count (float summation order
changes with the split of the work).

    .venv/bin/python benchmarks/ltrp_thread_count.py --epochs 3
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch


def _train(threads: int, epochs: int, out: Path) -> None:
    torch.set_num_threads(threads)
    from msglance.ranking.classifier import ClassifierConfig
    from msglance.ranking.datasets import load_split
    from msglance.ranking.study import study_mae_config
    from msglance.ranking.training import train_classifier, train_mae

    weights = {}
    for ds in ("digits", "natural"):
        train, _ = load_split(ds, 32, 0)
        model = train_mae(train.images, study_mae_config(train.images.shape[1]), epochs=epochs,
                          device="cpu").model
        weights[f"{ds} MAE"] = torch.cat([p.detach().flatten() for p in model.parameters()])
    train, _ = load_split("digits", 32, 0)
    seen = train.subset(train.labels < 5)
    model = train_classifier(seen.images, seen.labels, None, ClassifierConfig(channels=1, classes=5),
                             epochs=epochs, device="cpu").model
    weights["digits supervised classifier"] = torch.cat([p.detach().flatten() for p in model.parameters()])
    torch.save(weights, out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--child", nargs=2, metavar=("THREADS", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _train(int(args.child[0]), args.epochs, Path(args.child[1]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        runs = {}
        for threads in (1, 2):
            out = Path(tmp) / f"t{threads}.pt"
            env = dict(os.environ, OMP_NUM_THREADS=str(threads))
            subprocess.run([sys.executable, __file__, "--epochs", str(args.epochs),
                            "--child", str(threads), str(out)], check=True, env=env)
            runs[threads] = torch.load(out)
    print(f"| model ({args.epochs} epochs, seed 0) | max abs weight difference, 1 vs 2 threads |")
    print("|---|---:|")
    for name in runs[1]:
        print(f"| {name} | {float((runs[1][name] - runs[2][name]).abs().max()):.2e} |")


if __name__ == "__main__":
    main()
