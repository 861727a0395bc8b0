"""msglance.glance_grid.glance_grid_for: one Global Glance grid rule (issue 11, item 4)."""

from __future__ import annotations

import math

import pytest

from msglance.glance_grid import glance_grid_for
from msglance.mri.config import TrainConfig
from msglance.mri.config import glance_grid_side as glance_grid


@pytest.mark.parametrize("size", [16, 17, 32, 48, 64, 95, 96, 128, 200, 256, 320, 512])
def test_square_images_follow_the_mri_rule(size):
    """The MRI harness's rule, 96·size/256 (>= 16), is the shared rule on square images."""
    n, m = glance_grid_for((size, size))
    assert n == m == max(16, round(96 * size / 256)) <= size
    assert glance_grid(TrainConfig(size=size)) == n


@pytest.mark.parametrize("shape", [(16, 16), (16, 300), (37, 19), (300, 16), (16, 16, 16), (9, 40, 40)])
def test_every_image_of_one_window_gets_a_drawable_grid(shape):
    n, m = glance_grid_for(shape)
    assert 16 <= n == m and n * m <= math.prod(shape)


def test_explicit_grid_is_capped_and_small_inputs_are_refused():
    assert glance_grid_for((512, 512), 96) == (96, 96)  # the SIREN commands' paper grid
    assert glance_grid_for((32, 32), 96) == (32, 32)  # every pixel, in random order
    assert glance_grid(TrainConfig(size=64, glance_grid=32)) == 32
    for bad, word in (((15, 15), "too small"), ((8, 30), "too small"), ((0, 5), "spatial")):
        with pytest.raises(ValueError, match=word):
            glance_grid_for(bad)
    with pytest.raises(ValueError, match="smaller than one 16x16"):
        glance_grid_for((64, 64), 8)
    with pytest.raises(ValueError, match="grid"):
        glance_grid_for((64, 64), -1)
