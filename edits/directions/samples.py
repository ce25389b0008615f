"""Statistics of mapped latents w = mapping(z), accumulated in batches (memory O(w_dim²), float64).

The moments are merged batch by batch with Chan et al.'s pairwise update, so the result does not
depend on the batch size (up to float64 rounding), and z is drawn from `numpy.random.default_rng(seed)`
in order, so a batch split draws the same z as one big batch.
"""
from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm


def mapped_w(G: torch.nn.Module, num_samples: int, seed: int = 0, batch_size: int = 4096):
    """Yield `[b, w_dim]` float64 batches of mapped w (truncation ψ = 1) for `num_samples` z of `seed`."""
    if num_samples < 2:
        raise ValueError(f"num_samples must be at least 2, got {num_samples}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    rng = np.random.default_rng(seed)
    device = next(G.parameters()).device
    done = 0
    while done < num_samples:
        b = min(batch_size, num_samples - done)
        z = torch.from_numpy(rng.standard_normal((b, G.z_dim))).to(device, torch.float32)
        with torch.no_grad():
            w = G.mapping(z, truncation_psi=1.0)[:, 0]
        yield w.double().cpu()
        done += b


def w_moments(G: torch.nn.Module, num_samples: int = 100_000, seed: int = 0, batch_size: int = 4096,
              progress: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean `[w_dim]` and covariance `[w_dim, w_dim]` (float64, unbiased) of mapped w.

    Args:
        G: the generator.
        num_samples: how many z to map.
        seed: z ~ `numpy.random.default_rng(seed).standard_normal`.
        batch_size: z per mapping call (memory bound).
        progress: show a tqdm bar.
    """
    n, mean, scatter = 0, torch.zeros(G.w_dim, dtype=torch.float64), torch.zeros(G.w_dim, G.w_dim, dtype=torch.float64)
    batches = mapped_w(G, num_samples, seed, batch_size)
    for w in tqdm(batches, total=-(-num_samples // batch_size), desc="mapped w", unit="batch", disable=not progress):
        b = w.shape[0]
        mb = w.mean(0)
        xc = w - mb
        delta = mb - mean
        total = n + b
        # Chan, Golub & LeVeque (1979): merge (n, mean, scatter) with the batch's.
        scatter = scatter + xc.T @ xc + torch.outer(delta, delta) * (n * b / total)
        mean = mean + delta * (b / total)
        n = total
    return mean, scatter / (n - 1)


def sigma_along(cov: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """Standard deviation of w along each unit direction: `sqrt(nᵀ Σ n)`; directions `[K, w_dim]` -> `[K]`."""
    d = directions.to(torch.float64)
    return torch.einsum("kd,de,ke->k", d, cov, d).clamp_min(0).sqrt()


def fix_sign(vectors: torch.Tensor) -> torch.Tensor:
    """Eigenvectors have no sign: flip each row `[K, D]` so that its largest-magnitude entry is positive
    (the same files from the same weights, whatever the LAPACK build)."""
    idx = vectors.abs().argmax(dim=1)
    signs = torch.sign(vectors.gather(1, idx[:, None]))
    return vectors * signs


__all__ = ["mapped_w", "w_moments", "sigma_along", "fix_sign"]
