"""MAE masking and LTRP pseudo-scores: alignment, true removal, decoder removal, measures."""

from __future__ import annotations

import doctest

import pytest
import torch
from torch import nn

import msglance.ranking.mae as mae_module
import msglance.ranking.patches as patches_module
import msglance.ranking.pseudo_labels as pseudo_module
import msglance.ranking.vit as vit_module
from msglance.ranking.mae import MAEConfig, MaskedAutoencoder, random_masking, visible_count
from msglance.ranking.patches import patchify
from msglance.ranking.pseudo_labels import pseudo_scores


def tiny_mae(seed: int = 0, channels: int = 1) -> MaskedAutoencoder:
    torch.manual_seed(seed)
    return MaskedAutoencoder(MAEConfig(image_size=16, patch=4, channels=channels, dim=16,
                                       depth=2, heads=2, decoder_dim=16, decoder_depth=2,
                                       decoder_heads=2)).eval()


@pytest.mark.parametrize("module", [patches_module, vit_module, mae_module, pseudo_module])
def test_doctests(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


def test_random_masking_keeps_sorted_unique_indices_and_a_consistent_mask():
    g = torch.Generator().manual_seed(3)
    keep, mask = random_masking(50, 64, 0.75, g)
    assert keep.shape == (50, 16)
    assert bool((keep.diff(dim=1) > 0).all())  # strictly ascending: raster order
    assert bool((mask.sum(dim=1) == 48).all())
    assert not bool(mask.gather(1, keep).any())
    # every position is visible for some image: the draw is not stuck on a subset
    assert int((~mask).any(dim=0).sum()) == 64


def test_mask_ratio_leaving_fewer_than_two_visible_is_a_value_error():
    assert visible_count(64, 0.9) == 6
    with pytest.raises(ValueError, match="mask_ratio=0.99 leaves 0 visible"):
        visible_count(64, 0.99)
    with pytest.raises(ValueError, match="mask_ratio"):
        random_masking(2, 4, 0.8)


class OnePatchMAE(nn.Module):
    """A fake MAE: every output patch equals the number of visible (not hidden) tokens whose
    position is ``star``; so only removing the patch at ``star`` changes the output."""

    def __init__(self, star: int, length: int = 16, patch: int = 4):
        super().__init__()
        self.star, self.length, self.patch, self.grid = star, length, patch, (4, 4)

    def encode(self, patches, ids_keep):
        return (ids_keep == self.star).float()[..., None]  # no CLS, one channel per token

    def decode(self, latent, ids_keep, hidden=None):
        flag = latent[..., 0]
        if hidden is not None:
            flag = flag * (~hidden).float()
        value = flag.sum(dim=1)
        return value[:, None, None].expand(-1, self.length, self.patch * self.patch).clone()


@pytest.mark.parametrize("mode", ["true", "decoder"])
def test_a_fake_mae_that_depends_on_one_patch_scores_only_that_patch_at_its_list_position(mode):
    images = torch.rand(3, 1, 16, 16)
    ids = torch.tensor([[0, 5, 9, 12], [5, 6, 7, 8], [1, 2, 3, 5]])
    out = pseudo_scores(OnePatchMAE(star=5), images, ids_keep=ids, mode=mode)
    expected = (ids == 5).float()
    assert torch.equal(out.scores, expected)
    assert torch.equal(out.ids_keep, ids)
    assert bool(out.mask.gather(1, ids).logical_not().all())


def test_true_removal_equals_encoding_the_k_minus_one_set_directly():
    mae = tiny_mae()
    images = torch.rand(2, 1, 16, 16)
    g = torch.Generator().manual_seed(0)
    out = pseudo_scores(mae, images, 0.5, generator=g, mode="true")
    patches = patchify(images, 4)
    k = out.ids_keep.shape[1]
    with torch.no_grad():
        for n in range(2):
            keep = out.ids_keep[n : n + 1]
            anchor = mae.reconstruct(patches[n : n + 1], keep)
            masked = out.mask[n]
            for i in range(k):
                rest = torch.cat([keep[:, :i], keep[:, i + 1 :]], dim=1)
                recon = mae.reconstruct(patches[n : n + 1], rest)
                ref = (anchor - recon).abs().mean(-1)[0][masked].mean()
                assert float(out.scores[n, i]) == pytest.approx(float(ref), rel=1e-5, abs=1e-7)


@pytest.mark.parametrize("mode", ["true", "decoder"])
@pytest.mark.parametrize("max_sequences", [1, 8, 13])
def test_max_sequences_groups_images_and_gives_the_same_scores(mode, max_sequences):
    mae = tiny_mae()
    images = torch.rand(5, 1, 16, 16, generator=torch.Generator().manual_seed(3))
    whole = pseudo_scores(mae, images, 0.5, generator=torch.Generator().manual_seed(0), mode=mode)
    calls = []
    real = mae.decode

    def counting(*args, **kwargs):
        calls.append(len(args[0]))
        return real(*args, **kwargs)

    mae.decode = counting
    grouped = pseudo_scores(mae, images, 0.5, generator=torch.Generator().manual_seed(0),
                            mode=mode, max_sequences=max_sequences)
    k = whole.ids_keep.shape[1]  # 8 visible of 16
    per = max(1, max_sequences // k)
    assert calls[1::2] == [min(per, 5 - s) * k for s in range(0, 5, per)]  # removal passes
    assert torch.equal(grouped.ids_keep, whole.ids_keep)
    torch.testing.assert_close(grouped.scores, whole.scores, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="max_sequences"):
        pseudo_scores(mae, images, 0.5, max_sequences=0)


def test_key_padding_decoder_removal_equals_an_explicit_row_and_column_attention_mask():
    mae = tiny_mae(1)
    images = torch.rand(2, 1, 16, 16)
    patches = patchify(images, 4)
    keep, mask = random_masking(2, 16, 0.5, torch.Generator().manual_seed(1))
    i = 2
    with torch.no_grad():
        latent = mae.encode(patches, keep)
        hidden = torch.zeros_like(keep, dtype=torch.bool)
        hidden[:, i] = True
        by_padding = mae.decode(latent, keep, hidden=hidden)
        # explicit (T, T) mask per image: token t = 1 + keep[n, i] sees only itself and no
        # other query sees it (its row and column are cut)
        x = mae.decoder_embed(latent)
        full = mae.mask_token.expand(2, 16, -1).clone()
        full.scatter_(1, keep[..., None].expand(-1, -1, x.shape[-1]), x[:, 1:])
        x = torch.cat([x[:, :1], full], dim=1) + mae.decoder_pos
        t = 1 + keep[:, i]
        attn = torch.zeros(2, 17, 17, dtype=torch.bool)
        for n in range(2):
            attn[n, :, t[n]] = True
            attn[n, t[n], :] = True
            attn[n, t[n], t[n]] = False
        for blk in mae.decoder_blocks:
            x = blk(x, attn_mask=attn)
        by_matrix = mae.predictor(mae.decoder_norm(x))[:, 1:]
    others = torch.ones(2, 16, dtype=torch.bool)
    others[torch.arange(2), keep[:, i]] = False
    torch.testing.assert_close(by_padding[others], by_matrix[others], rtol=1e-5, atol=1e-6)
    # and the batched decoder-mode scores use exactly this removal
    out = pseudo_scores(mae, images, ids_keep=keep, mode="decoder")
    anchor = mae.decode(latent, keep)
    ref = (anchor - by_padding).abs().mean(-1)
    ref = (ref * mask).sum(1) / mask.sum(1)
    torch.testing.assert_close(out.scores[:, i], ref, rtol=1e-5, atol=1e-7)


def test_measures_l1_mse_registry_and_callable():
    mae = tiny_mae(2, channels=1)
    images = torch.rand(2, 1, 16, 16)
    keep, _ = random_masking(2, 16, 0.5, torch.Generator().manual_seed(2))
    l1 = pseudo_scores(mae, images, ids_keep=keep).scores
    mse = pseudo_scores(mae, images, ids_keep=keep, measure="mse").scores
    assert bool((l1 > 0).all()) and bool((mse > 0).all())
    assert not torch.allclose(l1, mse)
    # a callable on the images: the per-image mean |difference| over the whole image equals
    # the l1 score times the masked fraction (visible patches are pasted into both images)
    whole = pseudo_scores(mae, images, ids_keep=keep,
                          measure=lambda r, a: (r - a).abs().flatten(1).mean(1)).scores
    torch.testing.assert_close(whole, l1 * 8 / 16, rtol=1e-5, atol=1e-7)
    mae_metric = pseudo_scores(mae, images, ids_keep=keep, measure="mae").scores
    torch.testing.assert_close(mae_metric, whole, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="mode"):
        pseudo_scores(mae, images, ids_keep=keep, mode="fast")


def test_unsorted_ids_keep_is_rejected():
    with pytest.raises(ValueError, match="ascending"):
        pseudo_scores(tiny_mae(), torch.rand(1, 1, 16, 16), ids_keep=torch.tensor([[3, 1, 2]]))


def test_mae_training_step_lowers_the_masked_loss():
    mae = tiny_mae().train()
    images = torch.rand(8, 1, 16, 16) * 0.2 + torch.linspace(0, 0.8, 16)[None, None, None]
    opt = torch.optim.Adam(mae.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(25):
        loss, _, _ = mae(images, 0.75, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5


def test_a_higher_is_better_registry_metric_becomes_a_distance():
    mae = tiny_mae(3)
    images = torch.rand(2, 1, 16, 16)
    keep, _ = random_masking(2, 16, 0.5, torch.Generator().manual_seed(4))
    ssim = pseudo_scores(mae, images, ids_keep=keep, measure="ssim").scores
    assert ssim.shape == (2, 8) and bool((ssim >= -1e-6).all()) and bool((ssim > 0).any())
    # an MAE whose reconstruction ignores removals scores 0 for every patch under any measure
    flat = pseudo_scores(OnePatchMAE(star=99), images, ids_keep=keep, measure="ssim").scores
    assert torch.allclose(flat, torch.zeros_like(flat), atol=1e-6)
