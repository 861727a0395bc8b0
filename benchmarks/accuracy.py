"""Achieved agreement of msglance with its references, as a Markdown table.

    python benchmarks/accuracy.py

Each row: the largest absolute difference between msglance and the reference over a set of
real embedded images (scikit-image photos, crops and degraded copies), per dtype. The
references are the slow oracles of ``tests/oracles.py`` (explicit windows, line by line) and
scikit-image / pytorch-msssim / NumPy where they compute the same quantity. Nothing is
asserted here; the tests assert the tolerances, this script reports what is achieved.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import torch
from skimage import data, filters, measure
from skimage import metrics as skm

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "tests"))

from oracles import glance_oracle, glance_oracle_map, line_correlation_oracle  # noqa: E402

from msglance import metrics  # noqa: E402
from msglance.glance import glance_index, glance_index_map  # noqa: E402

RNG = np.random.default_rng(0)


def _t(img: np.ndarray, dtype) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(img))
    t = t.permute(2, 0, 1) if t.ndim == 3 else t[None]
    return t[None].to(dtype)


def _vol(v: np.ndarray, dtype) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(v))[None, None].to(dtype)


def _noisy(img: np.ndarray, sigma: float = 0.08) -> np.ndarray:
    return np.clip(img + sigma * RNG.standard_normal(img.shape), 0, 1)


def _images() -> list[np.ndarray]:
    camera = data.camera()[96:288, 160:352].astype(np.float64) / 255.0
    coins = data.coins()[:160, :200].astype(np.float64) / 255.0
    return [camera, coins]


def glance_rows() -> list[tuple[str, str, str, float]]:
    g = torch.Generator().manual_seed(0)
    ast = data.astronaut().astype(np.float64) / 255.0
    crop = torch.from_numpy(ast[100:148, 200:248]).permute(2, 0, 1)[None]
    pairs = [
        (torch.rand(2, 3, 40, 44, generator=g, dtype=torch.float64),
         torch.rand(2, 3, 40, 44, generator=g, dtype=torch.float64)),
        ((crop + 0.05 * torch.randn(crop.shape, generator=g, dtype=torch.float64)).clamp(0, 1), crop),
    ]
    configs = [(16, 1, "valid"), (7, 2, "valid"), (8, 3, "zero"), (5, 1, "zero"), (16, 4, "valid"),
               (3, 1, "valid")]
    rows = []
    for dtype in (torch.float32, torch.float64):
        err = 0.0
        for window, stride, padding in configs:
            for x, y in pairs:
                ref = glance_oracle(x, y, window=window, stride=stride, padding=padding)
                ours = glance_index(x.to(dtype), y.to(dtype), window, stride, padding, reduction="none")
                err = max(err, (ours.double() - ref).abs().max().item())
        rows.append(("glance_index 2-D (6 window/stride/padding settings)", "explicit-window oracle",
                     str(dtype).split(".")[-1], err))
    # the hard case for float32: near-flat (saturated) regions, where the window variance is
    # far below the squared values and E[x^2] - E[x]^2 cancels
    full = torch.from_numpy(ast[128:384, 128:384]).permute(2, 0, 1)[None]
    noisy = (full + 0.02 * torch.randn(full.shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    for window in (3, 7, 16):
        ref = glance_oracle(noisy, full, window=window)
        ours = glance_index(noisy.float(), full.float(), window, reduction="none")
        rows.append((f"glance_index astronaut 256^2 crop + noise, window {window}",
                     "explicit-window oracle", "float32", (ours.double() - ref).abs().max().item()))
    # MRI with air: exact zeros around the head, faint edges
    from msglance.data.embedded import load_dataset

    mri = torch.from_numpy(np.asarray(load_dataset("mri", 128)[0].image, dtype=np.float64))[None, None]
    pred = (mri + 0.01 * torch.randn(mri.shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    pred[mri == 0] = 0
    for window in (3, 7, 16):
        ref = glance_oracle(pred, mri, window=window)
        ours = glance_index(pred.float(), mri.float(), window, reduction="none")
        rows.append((f"glance_index MNI slice 128^2 with air + noise, window {window}",
                     "explicit-window oracle", "float32", (ours.double() - ref).abs().max().item()))
    # identity: GI(u, u) must be exactly 1, flat windows (air, a half-zero image) included
    half = torch.rand(2, 3, 40, 40, generator=g, dtype=torch.float64)
    half[..., :20] = 0.0
    for dtype in (torch.float32, torch.float64):
        err = 0.0
        for img in (mri, full, half):
            for window in (3, 7, 16):
                t = img.to(dtype)
                err = max(err, (glance_index(t, t, window, reduction="none").double() - 1).abs().max().item())
        rows.append(("glance_index(y, y) on MNI slice, astronaut crop, half-zero noise (windows 3, 7, 16)",
                     "exactly 1", str(dtype).split(".")[-1], err))
    x = torch.rand(2, 2, 12, 14, 13, generator=g, dtype=torch.float64)
    y = 0.6 * x + 0.4 * torch.rand(x.shape, generator=g, dtype=torch.float64)
    for dtype in (torch.float32, torch.float64):
        err = 0.0
        for window, stride, padding in [(4, 1, "valid"), (5, 2, "zero"), (3, 3, "valid")]:
            ref = glance_oracle(x, y, window=window, stride=stride, padding=padding)
            ours = glance_index(x.to(dtype), y.to(dtype), window, stride, padding, reduction="none")
            err = max(err, (ours.double() - ref).abs().max().item())
        rows.append(("glance_index 3-D (3 settings)", "explicit-window oracle",
                     str(dtype).split(".")[-1], err))
    return rows


def _flat_cases(g: torch.Generator) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """The flat-window cases: (name, prediction, target), float64."""
    from msglance.data.embedded import load_dataset

    ast = torch.from_numpy(data.astronaut().astype(np.float64) / 255.0).permute(2, 0, 1)[None]
    full = ast[:, :, 128:384, 128:384]
    noisy = (full + 0.02 * torch.randn(full.shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    mri = torch.from_numpy(np.asarray(load_dataset("mri", 128)[0].image, dtype=np.float64))[None, None]
    pred = (mri + 0.01 * torch.randn(mri.shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    pred[mri == 0] = 0
    sat = (ast[:, :, 160:288, 200:328] * 1.6).clamp(max=1.0)  # saturated highlights at 1.0
    sat_x = (sat + 0.02 * torch.randn(sat.shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    flat = ast[:, :1, 128:256, 128:256].clamp(max=0.8)  # plateaus at 0.8, 1e-4 noise on them
    flat_x = (flat + 1e-4 * torch.randn(flat.shape, generator=g, dtype=torch.float64)).clamp(max=0.8)
    return [("astronaut 256^2 crop + noise", noisy, full), ("MNI slice 128^2 with air + noise", pred, mri),
            ("astronaut 128^2 crop x1.6 clipped at 1.0 + noise", sat_x, sat),
            ("astronaut 128^2 crop clipped at 0.8 + 1e-4 noise", flat_x, flat)]


def float32_path_rows() -> list[tuple[str, str, str, float]]:
    """The ``moments="float32"`` path (two-pass central moments in float32) against the
    oracle. Per-window rows compare with the oracle evaluated on the float32-rounded data,
    so the difference is the moments' arithmetic alone; "raw float32" rows are the index
    from raw float32 moments E[x^2] - E[x]^2 (what the float32 path replaces)."""
    from msglance.filters import box_filter

    def raw32(x: torch.Tensor, y: torch.Tensor, window: int, eps: float = 1e-8) -> torch.Tensor:
        mx, my = box_filter(x, window), box_filter(y, window)
        vx = (box_filter(x * x, window) - mx * mx).clamp_min(0)
        vy = (box_filter(y * y, window) - my * my).clamp_min(0)
        return ((box_filter(x * y, window) - mx * my + eps) / ((vx + eps) * (vy + eps)).sqrt()).clamp(-1, 1)

    g = torch.Generator().manual_seed(1)
    rows = []
    f32 = "float32, moments=float32"
    for name, x, y in _flat_cases(g):
        xf, yf = x.float(), y.float()
        for window in (3, 7, 16):
            ref = glance_oracle_map(xf.double(), yf.double(), window=window)
            item = glance_index(xf, yf, window, reduction="none", moments="float32").double()
            rows.append((f"glance_index {name}, window {window}, per item", "explicit-window oracle",
                         f32, (item - glance_oracle(x, y, window=window)).abs().max().item()))
            for label, ours in (
                (f32, glance_index_map(xf, yf, window, moments="float32")),
                ("float32, moments=float64", glance_index_map(xf, yf, window, moments="float64")),
                ("float32, raw moments (not in the library)", raw32(xf, yf, window)),
            ):
                rows.append((f"glance_index_map {name}, window {window}, per window",
                             "explicit-window oracle on the float32 data", label,
                             (ours.flatten(2).double() - ref).abs().max().item()))
    pair = _flat_cases(g)[1]
    for window, stride, padding, parity in [(7, 2, "valid", None), (16, 4, "valid", None),
                                            (5, 3, "zero", None), (7, 1, "valid", "official")]:
        xf, yf = pair[1].float(), pair[2].float()
        ref = glance_oracle_map(xf.double(), yf.double(), window=window, stride=stride,
                                padding=padding, parity=parity)
        ours = glance_index_map(xf, yf, window, stride, padding, parity=parity, moments="float32")
        rows.append((f"glance_index_map MNI slice, window {window} stride {stride} {padding}"
                     + (" parity=official" if parity else "") + ", per window",
                     "explicit-window oracle on the float32 data", f32,
                     (ours.flatten(2).double() - ref).abs().max().item()))
    vol = torch.rand(2, 2, 14, 13, 15, generator=g, dtype=torch.float64)
    vol[..., 2:10, 3:11, 1:12] = 0.7 + 1e-4 * torch.rand(2, 2, 8, 8, 11, generator=g, dtype=torch.float64)
    vx = (vol + 1e-4 * torch.randn(vol.shape, generator=g, dtype=torch.float64)).float()
    err = 0.0
    for window, stride, padding in [(3, 1, "valid"), (5, 2, "valid"), (4, 3, "zero")]:
        ref = glance_oracle_map(vx.double(), vol.float().double(), window=window, stride=stride, padding=padding)
        ours = glance_index_map(vx, vol.float(), window, stride, padding, moments="float32")
        err = max(err, (ours.flatten(2).double() - ref).abs().max().item())
    rows.append(("glance_index_map 3-D, a block flat at 0.7 (3 settings), per window",
                 "explicit-window oracle on the float32 data", f32, err))
    err = 0.0
    for _, _, y in _flat_cases(g):
        for window in (3, 7, 16):
            yf = y.float()
            err = max(err, (glance_index_map(yf, yf, window, moments="float32").double() - 1).abs().max().item())
    rows.append(("glance_index_map(y, y) on the 4 targets above (windows 3, 7, 16), per window",
                 "exactly 1", f32, err))
    for name, x, y in _flat_cases(g):
        for window, stride in ((3, 1), (7, 2), (16, 1)):
            grads = []
            for moments in ("float32", "float64"):
                a = x.float().requires_grad_()
                glance_index(a, y.float(), window, stride, moments=moments).backward()
                grads.append(a.grad.double())
            diff, scale = (grads[0] - grads[1]).abs().max().item(), grads[1].abs().max().item()
            rows.append((f"d glance_index / d x, {name}, window {window} stride {stride}: max abs "
                         f"difference {diff:.1e} over the largest float64-path gradient {scale:.1e}",
                         "the float64 path's gradient", f32, diff / scale))
    return rows


def metric_rows() -> list[tuple[str, str, str, float]]:
    import pytorch_msssim

    rows = []
    imgs = _images()
    vol = filters.gaussian(RNG.random((22, 26, 30)), 1.0)
    vol = (vol - vol.min()) / (vol.max() - vol.min())
    ms_img = data.astronaut()[:, :, 0].astype(np.float64) / 255.0  # 512^2: enough for 5 scales
    for dtype in (torch.float32, torch.float64):
        name = str(dtype).split(".")[-1]
        err = {k: 0.0 for k in ("psnr", "ssim", "box7", "ssim3d", "ms_ssim", "nmi", "pcc", "blur",
                                "mlc", "mslc")}
        for img in imgs:
            pred = _noisy(img)
            x, y = _t(pred, dtype), _t(img, dtype)
            err["psnr"] = max(err["psnr"], abs(metrics.psnr(x, y).item()
                                               - skm.peak_signal_noise_ratio(img, pred, data_range=1)))
            err["ssim"] = max(err["ssim"], abs(metrics.ssim(x, y).item() - skm.structural_similarity(
                img, pred, data_range=1, gaussian_weights=True, sigma=1.5,
                use_sample_covariance=False)))
            err["box7"] = max(err["box7"], abs(metrics.ssim(x, y, window="box7").item()
                                               - skm.structural_similarity(img, pred, data_range=1)))
            err["nmi"] = max(err["nmi"], abs(metrics.nmi(x, y).item()
                                             - skm.normalized_mutual_information(img, pred)))
            err["pcc"] = max(err["pcc"], abs(metrics.pcc(x, y).item()
                                             - np.corrcoef(pred.ravel(), img.ravel())[0, 1]))
            err["blur"] = max(err["blur"], abs(metrics.blur_effect(x).item() - measure.blur_effect(pred)))
            err["mlc"] = max(err["mlc"], abs(metrics.mean_line_correlation(x).item()
                                             - line_correlation_oracle(pred, 1)))
            err["mslc"] = max(err["mslc"], abs(metrics.mean_shifted_line_correlation(x).item()
                                               - line_correlation_oracle(pred, pred.shape[1] // 2)))
        vp = _noisy(vol)
        err["ssim3d"] = abs(metrics.ssim(_vol(vp, dtype), _vol(vol, dtype)).item()
                            - skm.structural_similarity(vol, vp, data_range=1, gaussian_weights=True,
                                                        sigma=1.5, use_sample_covariance=False))
        mp = _noisy(ms_img)
        a, b = _t(mp, dtype), _t(ms_img, dtype)
        # pytorch_msssim builds its Gaussian window in float32 unless given one; a float64
        # window makes it a float64 reference (2.6e-6 apart otherwise)
        coords = torch.arange(11, dtype=torch.float64) - 5
        win = torch.exp(-coords**2 / (2 * 1.5**2))
        win = (win / win.sum()).view(1, 1, 1, 11)
        err["ms_ssim"] = abs(metrics.ms_ssim(a, b).item() - pytorch_msssim.ms_ssim(
            a.double(), b.double(), data_range=1.0, win=win).item())
        labels = {
            "psnr": ("psnr", "skimage peak_signal_noise_ratio"),
            "ssim": ("ssim (Gaussian 11/1.5)", "skimage structural_similarity(gaussian_weights)"),
            "box7": ("ssim window='box7'", "skimage structural_similarity defaults"),
            "ssim3d": ("ssim 3-D", "skimage structural_similarity (3-D)"),
            "ms_ssim": ("ms_ssim", "pytorch_msssim.ms_ssim (float64, float64 window)"),
            "nmi": ("nmi", "skimage normalized_mutual_information"),
            "pcc": ("pcc", "numpy corrcoef"),
            "blur": ("blur_effect", "skimage.measure.blur_effect"),
            "mlc": ("mlc", "line-by-line oracle (numpy corrcoef)"),
            "mslc": ("mslc", "line-by-line oracle (numpy corrcoef)"),
        }
        rows += [(labels[k][0], labels[k][1], name, v) for k, v in err.items()]
    return rows


def main() -> None:
    print(f"torch {torch.__version__}, numpy {np.__version__}")
    print()
    print("| quantity | reference | dtype | max abs difference |")
    print("|---|---|---|---|")
    glance = glance_rows()
    if "--float32-path-only" in sys.argv:
        glance, metric = float32_path_rows(), []
    else:
        glance, metric = glance + float32_path_rows(), sorted(metric_rows(), key=lambda r: r[0])
    for quantity, ref, dtype, err in glance + metric:
        print(f"| {quantity} | {ref} | {dtype} | {err:.1e} |")


if __name__ == "__main__":
    main()
