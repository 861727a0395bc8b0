# One-off probe (docs/results/mri_study.md): python probe_air_gradient.py RUN_DIR
# Where is each term's gradient on the network output? Share of its squared norm in air
# (target <= 0.01) vs tissue, on the validation split, for a trained run's best.pt.
import sys, torch
from torch.utils.data import DataLoader
from msglance.mri.config import build_dataset, build_loss, build_model, load_config
from msglance.mri.checkpoint import load_checkpoint
torch.set_num_threads(1); torch.manual_seed(0)
run = sys.argv[1]
cfg = load_config(run); model = build_model(cfg); model.load_state_dict(load_checkpoint(f"{run}/best.pt")["model"]); model.eval()
loss_fn = build_loss(cfg)
energy = {n: [0.0, 0.0] for n in loss_fn.terms}; air_px = tot_px = 0
for batch in DataLoader(build_dataset(cfg, "val"), batch_size=4):
    with torch.no_grad():
        p = model(batch["zero_filled"], batch["kspace"], batch["mask"])
    p = p.clone().requires_grad_(True); y = batch["target"]
    air = (y <= cfg.delta)
    air_px += int(air.sum()); tot_px += air.numel()
    for n, m in loss_fn.terms.items():
        (g,) = torch.autograd.grad(loss_fn.weights[n] * m(p, y), p)
        e = g.double() ** 2
        energy[n][0] += float(e[air].sum()); energy[n][1] += float(e.sum())
print(f"air pixels (target <= {cfg.delta}): {air_px / tot_px:.3f} of all")
for n, (a, t) in energy.items():
    print(f"{n}: share of squared gradient norm in air {a / t:.3f}; total squared norm {t:.3e}")
