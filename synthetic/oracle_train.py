"""Train the attribute oracle on a set written by :mod:`synthetic.oracle_data`.

    python -m synthetic.oracle_train --data data/oracle/train128.npz --minutes 55 --threads 2 \\
        --val data/oracle/val128_big.npz --out synthetic/weights/oracle

Batches hold ``P`` identities x ``K`` renders each so the identity embedding can be trained with a
supervised contrastive loss (Khosla et al. 2020) next to regression of pose, light direction,
landmarks and the identity parameters (smooth L1) and of the expressions (binary cross-entropy on
logits). Half of every batch is mirrored (labels mirrored with it: yaw, roll, light azimuth, the
two eyes, the landmark order), and part of it is blurred to a random lower resolution so the
oracle also reads 64 px frames. With ``--minutes`` the cosine learning-rate schedule runs on
wall-clock time, so a run fits a fixed budget on any machine (and is therefore not
bit-reproducible); ``--epochs`` gives a fixed schedule.

Why expressions use cross-entropy: their values are exactly 0 in 60 % of samples, and the first
oracle regressed them with smooth L1, whose optimum is the conditional median. A feature that
only weakly indicates a smile does not move the median off 0, so the head gains nothing from it
and sends no gradient to grow it: after 3 200 steps every expression head but mouth_open (which
the landmark loss taught the trunk anyway) still answered "neutral", with a gradient on the last
shared conv 4-9x smaller than pose's, light's or the contrastive loss's. Cross-entropy keeps a
gradient proportional to the error; its weight puts that gradient on par with the pose loss's.
"""
from __future__ import annotations

import math
import time

import click
import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from sgtcore.images import from_uint8

from .oracle import EXPRESSION, LIGHT_SCALE, POSE_SCALE, WEIGHTS, Oracle, preprocess
from .oracle_data import load_set
from .oracle_eval import evaluate

# dlib 68-point order under a left-right mirror (jaw, brows, nose, eyes, outer and inner lips)
LANDMARK_MIRROR = (
    list(range(16, -1, -1))
    + list(range(26, 16, -1))
    + [27, 28, 29, 30, 35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]
    + [64, 63, 62, 61, 60, 67, 66, 65]
)
EXPRESSION_MIRROR = [
    EXPRESSION.index(k.replace("left", "@").replace("right", "left").replace("@", "right")) for k in EXPRESSION
]

LOSS_WEIGHTS = {"pose": 2.0, "expression": 4.0, "light": 1.0, "landmarks": 8.0, "identity_params": 2.0, "supcon": 0.5}


def targets(d: dict[str, torch.Tensor], idx: torch.Tensor) -> dict[str, torch.Tensor]:
    """Normalised regression targets for items ``idx`` (the units :class:`Oracle` outputs)."""
    return {
        "pose": d["pose"][idx] / torch.tensor(POSE_SCALE),
        "expression": d["expression"][idx],
        "light": d["light"][idx] / torch.tensor(LIGHT_SCALE),
        "landmarks": d["landmarks"][idx].reshape(len(idx), -1),
        "identity_params": d["identity_params"][idx],
    }


def mirror(x: torch.Tensor, tgt: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Left-right mirror of full frames ``[N, 3, H, W]`` and their :func:`targets`.

    The heads are mirror-symmetric, so a mirrored render is the render of the mirrored
    parameters (tested in ``tests/synthetic/test_synthetic_oracle_train.py``).
    """
    sign = torch.tensor([-1.0, 1.0, -1.0])
    lm = tgt["landmarks"].view(len(x), 68, 2)[:, LANDMARK_MIRROR].clone()
    lm[..., 0] = 1 - lm[..., 0]
    out = {
        "pose": tgt["pose"] * sign,
        "expression": tgt["expression"][:, EXPRESSION_MIRROR],
        "light": tgt["light"] * torch.tensor([-1.0, 1.0]),
        "landmarks": lm.reshape(len(x), -1),
        "identity_params": tgt["identity_params"],
    }
    return x.flip(-1), out


def supcon(emb: torch.Tensor, labels: torch.Tensor, tau: float = 0.1) -> torch.Tensor:
    """Supervised contrastive loss of unit embeddings ``[N, D]`` with integer ``labels`` ``[N]``."""
    sim = emb @ emb.t() / tau
    eye = torch.eye(len(emb), dtype=torch.bool)
    sim = sim.masked_fill(eye, -1e9)
    pos = (labels[:, None] == labels[None, :]) & ~eye
    logp = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    return -(logp * pos).sum(1).div(pos.sum(1).clamp(min=1)).mean()


def losses_of(out: dict[str, torch.Tensor], tgt: dict[str, torch.Tensor], ids: torch.Tensor) -> dict[str, torch.Tensor]:
    """Unweighted losses of network outputs ``out`` (see :meth:`Oracle.forward`) against :func:`targets`."""
    res = {k: F.smooth_l1_loss(out[k], tgt[k], beta=0.02) for k in ("pose", "light", "landmarks", "identity_params")}
    # expression values are 0 in 60 % of samples: cross-entropy on logits keeps a gradient
    # proportional to the error, where an L1 loss settles on the median (neutral)
    res["expression"] = F.binary_cross_entropy_with_logits(out["expression"], tgt["expression"])
    res["supcon"] = supcon(out["identity"], ids)
    return res


def batch_indices(ids: np.ndarray, rng: np.random.Generator, p: int, k: int) -> torch.Tensor:
    """``p`` random identities x ``k`` of their renders."""
    uniq = np.unique(ids)
    chosen = rng.choice(uniq, size=p, replace=False)
    out = []
    for c in chosen:
        members = np.flatnonzero(ids == c)
        out.append(rng.choice(members, size=k, replace=len(members) < k))
    return torch.from_numpy(np.concatenate(out))


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Photometric noise and, for every third item, a lower resolution (network input ``[N, 3, S, S]``).

    The lower resolution mimics what :func:`~synthetic.oracle.preprocess` makes of a 64-96 px
    frame (a 48-72 px crop upsampled), so the oracle reads generator samples at those sizes too.
    """
    n, s = len(x), x.shape[-1]
    gain = 1 + 0.08 * (torch.rand(n, 1, 1, 1, generator=gen) - 0.5)
    bias = 0.06 * (torch.rand(n, 1, 1, 1, generator=gen) - 0.5)
    noise = 0.03 * torch.rand(n, 1, 1, 1, generator=gen) * torch.randn(x.shape, generator=gen)
    low = int(torch.randint(s // 2, s, (1,), generator=gen))
    sel = torch.arange(n) % 3 == 0  # across identities and mirrored / plain items alike
    small = F.interpolate(x[sel], size=(low, low), mode="bilinear", antialias=True, align_corners=False)
    x = x.clone()
    x[sel] = F.interpolate(small, size=(s, s), mode="bilinear", align_corners=False)
    return (x * gain + bias + noise).clamp(-1, 1)


def make_batch(
    d: dict[str, torch.Tensor], idx: torch.Tensor, gen: torch.Generator, net: Oracle
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Network input ``[N, 3, S, S]`` and targets for items ``idx``: odd items mirrored, augmented."""
    x, tgt = from_uint8(d["images"][idx]), targets(d, idx)
    flip = torch.arange(len(idx)) % 2 == 1  # half of every identity's renders, so positives span both
    xm, tm = mirror(x[flip], {k: v[flip] for k, v in tgt.items()})
    x[flip] = xm
    for k in tgt:
        tgt[k][flip] = tm[k]
    x = preprocess(x, net.config["input_size"], net.config["crop"])
    return augment(x, gen), tgt


def train(
    data: str,
    out: str,
    minutes: float = 0.0,
    epochs: int = 30,
    p: int = 32,
    k: int = 4,
    lr: float = 2e-3,
    seed: int = 0,
    threads: int = 1,
    width: int = 24,
    val: str | None = None,
    val_every: float = 5.0,
) -> Oracle:
    """Train and save the oracle; returns the trained network (eval mode).

    Args:
        val: an oracle data file of identities outside ``data``: its metrics are printed every
            ``val_every`` minutes (monitoring only; nothing is selected on it).
    """
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    d = load_set(data)
    ids = d["identity"].numpy()
    steps_per_epoch = max(1, len(ids) // (p * k))
    total = epochs * steps_per_epoch
    net = Oracle(width=width, n_identity=d["identity_params"].shape[1])
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    t0 = time.time()
    last_save = last_val = t0
    step = 0
    run: dict[str, float] = {}
    bar = tqdm(total=int(minutes * 60) if minutes else total, desc="oracle train", unit="s" if minutes else "step")
    while True:
        frac = (time.time() - t0) / (minutes * 60) if minutes else step / total
        if frac >= 1:
            break
        for g in opt.param_groups:  # warm-up 2 %, then cosine to zero
            g["lr"] = lr * min(1.0, frac / 0.02) * 0.5 * (1 + math.cos(math.pi * frac))
        idx = batch_indices(ids, rng, p, k)
        x, tgt = make_batch(d, idx, gen, net)
        outp = net(x)
        losses = losses_of(outp, tgt, d["identity"][idx])
        loss = sum(LOSS_WEIGHTS[n] * v for n, v in losses.items())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        with torch.no_grad():  # running training errors in readable units
            cur = {n: v.item() for n, v in losses.items()}
            cur["yaw_deg"] = (outp["pose"][:, 0] - tgt["pose"][:, 0]).abs().mean().item() * POSE_SCALE[0]
            cur["expr_mae"] = (torch.sigmoid(outp["expression"]) - tgt["expression"]).abs().mean().item()
            run = {n: 0.98 * run.get(n, v) + 0.02 * v for n, v in cur.items()}
        if minutes:
            bar.n = min(int(time.time() - t0), bar.total)
            bar.refresh()
        else:
            bar.update(1)
        if step % 100 == 0:
            msg = " ".join(f"{n}={v:.3f}" for n, v in run.items())
            tqdm.write(f"step {step} {(time.time() - t0) / 60:.1f} min {msg}")
        if val and time.time() - last_val > val_every * 60:
            net.eval()
            m = evaluate(net, val)
            net.train()
            keys = ("yaw_mae_deg", "pitch_mae_deg", "roll_mae_deg", "expression_mae", "identity_top1")
            tqdm.write(f"val step {step}: " + " ".join(f"{n}={m[n]:.3f}" for n in keys))
            last_val = time.time()
        if time.time() - last_save > 600:  # a crash or a kill still leaves usable weights
            net.eval()
            net.save_pretrained(out, {"steps": step, "partial": True})
            net.train()
            last_save = time.time()
    bar.close()
    net.eval()
    minutes_run = round((time.time() - t0) / 60, 1)
    info = {"steps": step, "minutes": minutes_run, "train_set": str(data), "train_images": len(ids)}
    net.save_pretrained(out, {**info, "loss_weights": LOSS_WEIGHTS, "batch": [p, k], "lr": lr})
    return net


@click.command(context_settings={"show_default": True})
@click.option("--data", required=True, type=click.Path(exists=True, dir_okay=False), help="From synthetic.oracle_data.")
@click.option("--out", default=str(WEIGHTS), help="Model folder (config.json + model.safetensors; sgtcore.modelio).")
@click.option("--minutes", type=float, default=0.0, help="Wall-clock budget (0 = use --epochs).")
@click.option("--epochs", type=int, default=30)
@click.option("--lr", type=float, default=2e-3)
@click.option("--seed", type=int, default=0)
@click.option("--threads", type=int, default=1, help="torch threads.")
@click.option("--width", type=int, default=24, help="Channels of the first stage.")
@click.option("--p", "p", type=int, default=32, help="Identities per batch.")
@click.option("--k", "k", type=int, default=4, help="Renders per identity in a batch.")
@click.option(
    "--val", default=None, type=click.Path(exists=True, dir_okay=False), help="Monitoring set (other identities)."
)
@click.option("--val-every", type=float, default=5.0, help="Minutes between monitoring evaluations.")
def main(
    data: str, out: str, minutes: float, epochs: int, lr: float, seed: int, threads: int, width: int, p: int, k: int,
    val: str | None, val_every: float,
) -> None:
    """Train the attribute oracle."""
    train(data, out, minutes=minutes, epochs=epochs, p=p, k=k, lr=lr, seed=seed, threads=threads, width=width, val=val,
          val_every=val_every)


if __name__ == "__main__":
    main()
