"""Issue 11, item 6: every expected CLI failure is ONE line on stderr and a non-zero exit,
never a traceback — run as a user runs it (a subprocess of ``python -m msglance.cli``).

The subprocesses start concurrently (a few at a time) in one module fixture, so the file
costs about one interpreter start per core, not one per case.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

NO_CUDA = not torch.cuda.is_available()


def _cases(root: Path) -> dict[str, tuple[list[str], str]]:
    """name -> (arguments, a word the error line must contain)."""
    afile = root / "a-file"
    afile.write_text("not a folder")
    bad_out = str(afile / "out")  # unwritable for everyone, root included: its parent is a file
    cases = {
        "eval --device bogus": (["eval", "r.png", "p.png", "--device", "bogus"], "device"),
        "mri train --device bogus": (["mri", "train", "--out", str(root / "m"), "--device", "bogus"],
                                     "device"),
        # --out is checked first: the inputs do not exist, yet the error is about --out
        "eval --out unwritable": (["eval", "r.png", "p.png", "--out", bad_out], "--out"),
        "demo --out unwritable": (["demo", "--out", bad_out], "--out"),
        # a fit of a million steps: only a check *before* the work can fail within the timeout
        "inr fit --out unwritable": (["inr", "fit", "camera", "--size", "32", "--steps", "1000000",
                                      "--device", "cpu", "--out", bad_out], "--out"),
        "inr study --out unwritable": (["inr", "study", "--dataset", "faces", "--limit", "1",
                                        "--steps", "1000000", "--device", "cpu", "--out", bad_out],
                                       "--out"),
        "mri train --out unwritable": (["mri", "train", "--out", bad_out, "--device", "cpu"], "--out"),
        # checked before any training (a million epochs would time out)
        "mri train --position-weights missing": (
            ["mri", "train", "--out", str(root / "m"), "--device", "cpu", "--epochs", "1000000",
             "--position-weights", "ltrp:missing.pt"], "--position-weights: ltrp:missing.pt"),
        "mri train --position-weights bogus": (
            ["mri", "train", "--out", str(root / "m"), "--device", "cpu", "--epochs", "1000000",
             "--position-weights", "bogus"], "unknown position weights"),
        "mri train --position-weights no global": (
            ["mri", "train", "--out", str(root / "m"), "--device", "cpu", "--epochs", "1000000",
             "--loss", "l1", "--position-weights", "variance"], "Global Glance term"),
        "inr fit --steps 0": (["inr", "fit", "camera", "--steps", "0", "--out", str(root / "f")],
                              "steps"),
        "inr fit --lr -1": (["inr", "fit", "camera", "--lr", "-1", "--out", str(root / "f")], "lr"),
        "inr study --steps 0": (["inr", "study", "--steps", "0", "--out", str(root / "s")], "steps"),
        "demo --steps 0": (["demo", "--steps", "0", "--out", str(root / "d")], "steps"),
        "ltrp train-mae --device bogus": (["ltrp", "train-mae", "--device", "bogus",
                                           "--out", str(root / "l")], "device"),
        "ltrp train-mae --out unwritable": (["ltrp", "train-mae", "--epochs", "1000000",
                                             "--out", bad_out], "--out"),
        "sess --device bogus": (["sess", "a.png", "b.png", "--device", "bogus"], "device"),
    }
    if NO_CUDA:
        cases.update({
            "eval --device cuda": (["eval", "r.png", "p.png", "--device", "cuda"], "CUDA"),
            "demo --device cuda": (["demo", "--device", "cuda", "--out", str(root / "d")], "CUDA"),
            "inr fit --device cuda": (["inr", "fit", "camera", "--device", "cuda",
                                       "--out", str(root / "f")], "CUDA"),
            "sess --device cuda": (["sess", "a.png", "b.png", "--device", "cuda"], "CUDA"),
        })
    return cases


ALL = [
    "eval --device bogus", "mri train --device bogus", "eval --out unwritable",
    "demo --out unwritable", "inr fit --out unwritable", "inr study --out unwritable",
    "mri train --out unwritable", "mri train --position-weights missing",
    "mri train --position-weights bogus", "mri train --position-weights no global",
    "inr fit --steps 0", "inr fit --lr -1", "inr study --steps 0",
    "demo --steps 0", "eval --device cuda", "demo --device cuda", "inr fit --device cuda",
    "ltrp train-mae --device bogus", "ltrp train-mae --out unwritable", "sess --device bogus",
    "sess --device cuda",
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-errors")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "80"}

    def run(args: list[str]) -> subprocess.CompletedProcess:
        try:
            return subprocess.run([sys.executable, "-m", "msglance.cli", *args], cwd=root, env=env,
                                  capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired as exc:
            return subprocess.CompletedProcess(args, -9, exc.stdout or "", "TIMEOUT (did the work)")

    cases = _cases(root)
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: (pool.submit(run, args), word) for name, (args, word) in cases.items()}
        return {name: (f.result(), word) for name, (f, word) in futures.items()}


@pytest.mark.parametrize("name", ALL)
def test_expected_failure_is_one_line_on_stderr(results, name):
    if name not in results:
        pytest.skip("CUDA is available here: '--device cuda' is not an error")
    proc, word = results[name]
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode not in (0, -9), (name, proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-2000:]
    assert len(lines) == 1 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert lines[0].startswith("error: ") and word in lines[0], lines[0]
