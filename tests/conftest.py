import os

import numpy as np
import pytest
import torch
from hypothesis import settings

# at most 2 threads, and OMP_NUM_THREADS when set: on a busy machine 2 threads can be ~8x
# slower than 1 (a SIREN fit measured 78 s against 10 s), so a shared machine's
# OMP_NUM_THREADS=1 must not be overridden here
if "OMP_NUM_THREADS" not in os.environ:
    torch.set_num_threads(min(2, os.cpu_count() or 1))

# Hypothesis profiles: "ci" (the default, bounded: tests/test_contract.py in well under a
# minute) and "deep" (``pytest --hypothesis-profile=deep``: >= 10,000 contract cases).
# Tests with their own ``settings(max_examples=...)`` keep theirs.
settings.register_profile("ci", max_examples=300, deadline=None, derandomize=True)
settings.register_profile("deep", max_examples=5500, deadline=None)
settings.load_profile("ci")


@pytest.fixture(scope="session")
def astronaut() -> torch.Tensor:
    """The embedded astronaut photo (scikit-image, public domain), (1, 3, 512, 512) in [0, 1]."""
    from skimage import data

    img = data.astronaut().astype(np.float32) / 255.0
    return torch.from_numpy(img).permute(2, 0, 1).unsqueeze(0).contiguous()


@pytest.fixture(scope="session")
def camera() -> torch.Tensor:
    """scikit-image `camera` (public domain), (1, 1, 512, 512) in [0, 1]."""
    from skimage import data

    return torch.from_numpy(data.camera().astype(np.float32) / 255.0)[None, None]


@pytest.fixture
def one_thread_quiet():
    """One torch thread (small convolutions run faster and bitwise reproducibly) and no
    warnings (the air-prior warning at toy image sizes is expected) for the test."""
    import warnings

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_ranker(tmp_path):
    """An untrained LTRP ranker (16×16 images, 4×4 grid of 4×4 patches, seed 0) and its
    checkpoint file, as ``train_ranker`` writes it: ``(ranker, path)``."""
    ranking = pytest.importorskip("msglance.ranking")
    from msglance.ranking.checkpoint import FORMAT

    torch.manual_seed(0)
    ranker = ranking.PatchRanker(ranking.RankerConfig(image_size=16, patch=4, dim=16, depth=1))
    path = tmp_path / "ranker.pt"
    torch.save({"format": FORMAT, "kind": "ranker", "model_config": ranker.config_dict(),
                "model": ranker.state_dict()}, path)
    return ranker, path
