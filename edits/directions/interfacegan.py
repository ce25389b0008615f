"""InterFaceGAN: a linear SVM boundary in W separates high from low scores (Shen et al., CVPR 2020 / TPAMI 2020).

Sample w = mapping(z), score each sample's image (the attribute oracle by default, or any user scorer),
keep the top and bottom `fraction` (2 %) as the two classes, split each class 70/30, fit a linear SVM
on the training part and take the unit normal of its hyperplane as the edit direction (pointing to
high scores); the held-out 30 % give the validation accuracy. Conditional editing (paper §3.2) moves
along the primal boundary with the condition boundaries projected out: for one condition
n' = n − (nᵀc)c, for two the 2×2 system the authors solve (`project_boundary`), renormalised.

The edit's raw strength is the signed distance moved along the unit normal in W ("svm distance"); the
calibration (`edits.calibration.measure`, held-out samples, the oracle) maps the attribute's own unit
to it, so `edit.apply(ws, 15.0)` on `interfacegan:yaw` asks for +15°.

    >>> e = interfacegan(G, "yaw")                   # doctest: +SKIP
    >>> e.info["val_accuracy"], e.range              # doctest: +SKIP
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..base import LinearEdit, check_rows
from .samples import mapped_w

Scorer = Callable[[torch.Tensor], torch.Tensor]
# calibration grid in units of σ_n, the std of mapped w along the boundary normal
CALIBRATION_GRID = (-3.0, -2.0, -1.0, -0.5, 0.5, 1.0, 2.0, 3.0)


def sample_ws(G: torch.nn.Module, num_samples: int, seed: int = 0, batch_size: int = 4096) -> torch.Tensor:
    """`[num_samples, w_dim]` float32 mapped w in the order `interfacegan` draws them (precomputed scores
    must follow this order)."""
    return torch.cat([w.float() for w in mapped_w(G, num_samples, seed, batch_size)])


def oracle_scorer(attribute: str, oracle: Any = None) -> Scorer:
    """`images [N, 3, H, W] in [-1, 1] -> [N]`: the oracle's reading of `attribute` in its unit."""
    from ..attributes import get

    attr = get(attribute)
    if oracle is None:
        from synthetic import oracle as oracle_mod

        oracle = oracle_mod.load()

    def score(images: torch.Tensor) -> torch.Tensor:
        return attr.score(oracle.predict(images, mirror_identity=False))

    return score


def score_ws(G: torch.nn.Module, w: torch.Tensor, scorer: Scorer, batch_size: int = 256,
             progress: bool = False) -> torch.Tensor:
    """Score the images of `w [N, w_dim]` (all ws rows = w, noise_mode 'const'): `[N]` float64."""
    out = []
    with torch.no_grad():
        for i in tqdm(range(0, len(w), batch_size), desc="score samples", unit="batch", disable=not progress):
            wb = w[i:i + batch_size].to(G.w_avg.device)
            img = G.synthesis(wb[:, None].repeat(1, G.num_ws, 1), noise_mode="const")
            s = torch.as_tensor(scorer(img)).reshape(-1)
            if s.shape[0] != len(wb):
                raise ValueError(f"scorer returned {s.shape[0]} scores for {len(wb)} images; it must map "
                                 "images [N, 3, H, W] to [N]")
            out.append(s.detach().double().cpu())
    return torch.cat(out)


def train_boundary(w: torch.Tensor, scores: torch.Tensor, fraction: float = 0.02, split: float = 0.7,
                   seed: int = 0, C: float = 1.0) -> tuple[torch.Tensor, dict]:
    """Fit the InterFaceGAN boundary.

    Args:
        w: `[N, w_dim]` latents.
        scores: `[N]` scores; NaN marks a sample the scorer could not score (left out; at most half).
        fraction: share of samples in each class (top / bottom by score).
        split: share of each class used for training; the rest measures accuracy (1: all of it, no
            validation — `val_accuracy` NaN — for the few-sample end of a sample-efficiency study).
        seed: of the shuffle before the split.
        C: the SVM's regularisation.

    Returns:
        the unit normal `[w_dim]` float64 (towards high scores) and info (accuracies, class sizes,
        score thresholds, intercept of the unit-normal hyperplane `nᵀw + b = 0`).
    """
    from sklearn.svm import LinearSVC

    w = torch.as_tensor(w, dtype=torch.float64)
    scores = torch.as_tensor(scores, dtype=torch.float64).reshape(-1)
    if w.ndim != 2 or scores.shape[0] != w.shape[0]:
        raise ValueError(f"need w [N, w_dim] and scores [N]; got {list(w.shape)} and {list(scores.shape)}")
    if torch.isinf(scores).any():
        raise ValueError(f"scores hold {int(torch.isinf(scores).sum())} Inf values; the scorer must return finite "
                         "numbers (or NaN for a sample it cannot score)")
    unscored = int(torch.isnan(scores).sum())  # e.g. no face found by a landmark scorer: left out
    if unscored > len(scores) // 2:
        raise ValueError(f"the scorer could not score {unscored} of {len(scores)} samples (NaN); check that it "
                         "sees faces in this generator's images")
    if unscored:
        keep = ~torch.isnan(scores)
        w, scores = w[keep], scores[keep]
    if not 0 < fraction <= 0.5 or not 0 < split <= 1:
        raise ValueError(f"fraction must be in (0, 0.5] and split in (0, 1], got {fraction}, {split}")
    k = int(round(fraction * len(scores)))
    n_train = k if split == 1 else int(round(split * k))
    if n_train < 1 or (split < 1 and (n_train < 2 or k - n_train < 1)) or 2 * k > len(scores):
        raise ValueError(f"{len(scores)} samples × fraction {fraction} give {k} per class: too few to train and "
                         "validate; pass more samples (num_samples), a larger fraction, or split=1 (no validation)")
    order = torch.argsort(scores, stable=True)
    neg, pos = order[:k], order[-k:]
    if float(scores[pos].min()) <= float(scores[neg].max()):
        raise ValueError(f"the top and bottom {fraction:.1%} of scores overlap (range {float(scores.min()):.4g}.."
                         f"{float(scores.max()):.4g}): the scorer does not separate the samples")
    rng = np.random.default_rng(seed)
    pos, neg = pos[rng.permutation(k)], neg[rng.permutation(k)]
    x_train = torch.cat([w[pos[:n_train]], w[neg[:n_train]]]).numpy()
    x_val = torch.cat([w[pos[n_train:]], w[neg[n_train:]]]).numpy()
    y_train = np.r_[np.ones(n_train), np.zeros(n_train)]
    y_val = np.r_[np.ones(k - n_train), np.zeros(k - n_train)]
    svm = LinearSVC(C=C, max_iter=20_000, random_state=seed).fit(x_train, y_train)
    coef = torch.from_numpy(svm.coef_.reshape(-1).astype(np.float64))
    norm = float(coef.norm())
    if not math.isfinite(norm) or norm == 0:
        raise ValueError("the SVM found no boundary (zero normal); the scores do not depend on w linearly")
    val_acc = float(svm.score(x_val, y_val)) if len(y_val) else float("nan")
    info = {"train_accuracy": float(svm.score(x_train, y_train)), "val_accuracy": val_acc,
            "per_class": k, "train_per_class": n_train, "val_per_class": k - n_train, "fraction": fraction,
            "score_low": float(scores[neg].max()), "score_high": float(scores[pos].min()),
            "intercept": float(svm.intercept_[0]) / norm, "C": C, "unscored": unscored}
    return coef / norm, info


def _as_direction(c: Any, w_dim: int) -> torch.Tensor:
    v = c.direction if isinstance(c, LinearEdit) else c
    v = torch.as_tensor(v, dtype=torch.float64).detach().cpu().reshape(-1)
    if v.shape[0] != w_dim or not torch.isfinite(v).all() or float(v.norm()) == 0:
        raise ValueError(f"a condition must be a LinearEdit or a finite non-zero [w_dim] = [{w_dim}] vector, "
                         f"got shape {list(v.shape)}")
    return v / v.norm()


def project_boundary(primal: torch.Tensor, conditions: Sequence[Any]) -> torch.Tensor:
    """The primal boundary's normal with the condition normals projected out, renormalised.

    One condition: n' = n − (nᵀc)c. Two: n' = n − αc₁ − βc₂ with (α, β) solving the 2×2 system
    [[1, c₁ᵀc₂], [c₁ᵀc₂, 1]] (α, β)ᵀ = (nᵀc₁, nᵀc₂)ᵀ (InterFaceGAN `project_boundary`); more: the
    same normal equations with the conditions' Gram matrix.

    Args:
        primal: `[w_dim]` unit normal.
        conditions: LinearEdits or `[w_dim]` vectors (normalised here).

    Raises:
        ValueError: conditions that are linearly dependent, or that span the primal direction.
    """
    n = torch.as_tensor(primal, dtype=torch.float64).reshape(-1)
    n = n / n.norm()
    if not conditions:
        return n
    C = torch.stack([_as_direction(c, n.shape[0]) for c in conditions], dim=1)  # [w_dim, k]
    gram = C.T @ C
    if float(torch.linalg.eigvalsh(gram).min()) < 1e-6:
        raise ValueError("the condition boundaries are (nearly) linearly dependent; drop one of them")
    out = n - C @ torch.linalg.solve(gram, C.T @ n)
    if float(out.norm()) < 1e-6:
        raise ValueError("the primal boundary lies in the span of the conditions: nothing is left to edit")
    return out / out.norm()


def interfacegan(G: torch.nn.Module, attribute: str, *, num_samples: int = 20_000,
                 scorer: Scorer | torch.Tensor | np.ndarray | None = None, rows: str | Iterable[int] = "all",
                 conditions: Sequence[Any] = (), fraction: float = 0.02, split: float = 0.7, seed: int = 0,
                 batch_size: int = 256,
                 calibrate: bool = True, oracle: Any = None, calibration_samples: int = 64,
                 calibration_grid: Sequence[float] = CALIBRATION_GRID, metadata: dict | None = None,
                 progress: bool = False) -> LinearEdit:
    """An InterFaceGAN boundary for `attribute` as an edit "interfacegan:<attribute>".

    Args:
        G: the generator.
        attribute: an `edits.attributes` name (the oracle scores it), or, with a user `scorer` and
            `calibrate=False`, any name for what the scorer measures.
        num_samples: mapped samples (seed `seed`, truncation ψ = 1).
        scorer: `images [N, 3, H, W] in [-1, 1] -> [N]`, or precomputed `[num_samples]` scores of the
            samples `sample_ws(G, num_samples, seed)` (same order); default: the oracle's reading.
        rows: ws rows the edit changes ("all", or e.g. range(0, 4)).
        conditions: other boundaries (LinearEdits or `[w_dim]` vectors) to keep fixed (`project_boundary`).
        fraction: share of samples per class (top / bottom).
        split: share of each class for training, the rest for validation (`train_boundary`; 1: no validation).
        seed, batch_size: of the samples and the rendering batches.
        calibrate: measure the attribute change with the oracle on held-out samples
            (`edits.calibration.measure`) so strength is in the attribute's unit; False: strength is the
            raw distance along the unit normal in W (`unit` "svm distance").
        oracle: the attribute oracle (default `synthetic.oracle.load()`).
        calibration_samples, calibration_grid: held-out samples and raw strengths (in units of σ_n, the
            std of mapped w along the normal) the calibration measures.
        metadata: saved with the edit.
        progress: tqdm bars.

    Returns:
        A `LinearEdit` (`sigma` 1: raw strength = W distance); `info` holds the validation accuracy, σ_n,
        the class thresholds and the conditions' cosines with the primal.

    Raises:
        ValueError: an attribute the oracle cannot score (without a user scorer), calibration asked for
            such an attribute, NaN/Inf scores, too few samples, bad rows or conditions, or an edit that
            does not move the attribute (cannot be calibrated).
    """
    from stylegan import fingerprint

    from ..attributes import ATTRIBUTES, get
    from ..calibration import measure

    known = True
    try:
        attr = get(attribute)
    except ValueError:
        if scorer is None or calibrate:
            raise ValueError(f"the oracle cannot score attribute {attribute!r}; pass a scorer and calibrate=False "
                             f"for a user attribute, or one of: {', '.join(ATTRIBUTES)}") from None
        known, attr = False, None
    rows = tuple(range(G.num_ws)) if isinstance(rows, str) and rows == "all" else check_rows(rows, G.num_ws)
    if oracle is None and (scorer is None or calibrate):
        from synthetic import oracle as oracle_mod

        oracle = oracle_mod.load()
    w = sample_ws(G, num_samples, seed)
    if scorer is None or callable(scorer):
        user = scorer is not None
        fn = scorer if user else oracle_scorer(attribute, oracle)
        scores = score_ws(G, w, fn, batch_size, progress)
    else:
        user = True
        scores = torch.as_tensor(np.asarray(scorer), dtype=torch.float64).reshape(-1)
        if scores.shape[0] != num_samples:
            raise ValueError(f"precomputed scores must be [num_samples] = [{num_samples}] (the samples of "
                             f"sample_ws(G, {num_samples}, seed={seed})), got {list(scores.shape)}")
    primal, info = train_boundary(w, scores, fraction, split, seed=seed)
    direction = project_boundary(primal, conditions)
    if conditions:
        info["conditions"] = [c.name if isinstance(c, LinearEdit) else "vector" for c in conditions]
        info["condition_cosines"] = [float(primal @ _as_direction(c, G.w_dim)) for c in conditions]
        info["primal_cosine"] = float(primal @ direction)
    sigma_n = float((w.double() @ direction).std())
    info.update({"num_samples": num_samples, "seed": seed, "sigma_w": sigma_n,
                 "scorer": "user" if user else "oracle", "scores_mean": float(scores.mean()),
                 "scores_std": float(scores.std())})
    calibration = None
    if calibrate:
        d32 = direction.float()
        mask = torch.zeros(G.num_ws)
        mask[list(rows)] = 1

        def apply_raw(ws: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
            return ws + raw[:, None, None] * (mask.to(ws)[None, :, None] * d32.to(ws)[None, None, :])

        try:
            calibration = measure(G, apply_raw, attr.name, [g * sigma_n for g in calibration_grid], oracle=oracle,
                                  num=calibration_samples, progress=progress)
        except ValueError as exc:
            raise ValueError(f"interfacegan:{attribute}: {exc}") from None
    unit = attr.unit if calibration is not None else "svm distance"
    return LinearEdit(direction.float(), rows, 1.0, name=f"interfacegan:{attribute}", method="interfacegan",
                      num_ws=G.num_ws, attribute=attr.name if known else attribute, unit=unit,
                      generator=fingerprint(G), info=info, metadata=metadata, calibration=calibration)


__all__ = ["interfacegan", "train_boundary", "project_boundary", "sample_ws", "score_ws", "oracle_scorer"]
