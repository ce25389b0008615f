"""Layer-wise code replacement (LCR; Zhu et al. 2021, MegaFS Sec. 3.2): a swap made in W+ alone.

StyleGAN's coarse rows (the 4-8 px layers) set head pose and face shape, middle and fine rows
identity detail, skin and colour (Karras et al. 2019, Sec. 3.1). LCR keeps rows `< split` from the
attribute code and rows `>= split` from the identity code. A ws row index names the same resolution in
every StyleGAN2 generator (rows 0-1 drive 4 px, 2-3 8 px, ...), so one split carries across resolutions.

    >>> ws = lcr(identity_ws, attribute_ws)            # doctest: +SKIP
    >>> img = G.synthesis(ws)                          # doctest: +SKIP
"""
from __future__ import annotations

import torch

#: The library's default split, chosen by measurement on the default model `synthheads` (num_ws 10):
#: every split 0..10 swept on the held-out protocol (`sgt eval-swap --ids 100 --attributes 10 --splits all`,
#: library-default inversion) and `edits.swap.evaluate.choose_split` applied: split 2 (rows 0-1, the 4 px
#: block, from the attribute) has the most pairs both retrieved and within 5 deg of the true pose (3.7 %;
#: ID top-1 12.1 %, pose error 8.2 deg; split 4, MegaFS's index, gives 2.3 % / 5.3 deg). MegaFS used
#: 4 of 18 rows on FFHQ-1024; we measure rather than copy it.
DEFAULT_SPLIT = 2


def default_split(num_ws: int) -> int:
    """`DEFAULT_SPLIT`, clipped to `num_ws` for generators with fewer rows."""
    return min(DEFAULT_SPLIT, int(num_ws))


def check_split(split: int, num_ws: int) -> int:
    """`split` as an int in [0, num_ws]; ValueError otherwise (0: all identity, num_ws: all attribute)."""
    if isinstance(split, bool) or not isinstance(split, int) and not (hasattr(split, "__index__")):
        raise ValueError(f"split must be an integer in [0, num_ws] = [0, {num_ws}], got {split!r}")
    split = int(split)
    if not 0 <= split <= num_ws:
        raise ValueError(f"split = {split} is out of range [0, num_ws] = [0, {num_ws}]: rows < split come from the "
                         f"attribute, rows >= split from the identity (0: all identity, {num_ws}: all attribute)")
    return split


def lcr(identity_ws: torch.Tensor, attribute_ws: torch.Tensor, split: int | None = None) -> torch.Tensor:
    """Layer-wise code replacement: W+ rows `< split` from the attribute, rows `>= split` from the identity.

    Args:
        identity_ws: `[N, num_ws, w_dim]` (or `[1, ...]`, broadcast) codes of who.
        attribute_ws: `[N, num_ws, w_dim]` (or `[1, ...]`) codes of pose, expression, lighting.
        split: first row taken from the identity, in [0, num_ws]; default `default_split(num_ws)`.

    Returns:
        `[N, num_ws, w_dim]`, a new tensor (differentiable in both inputs).

    Raises:
        ValueError: shapes that differ in num_ws / w_dim or do not broadcast, non-finite values, a split out of range.

    Example:
        >>> a, b = torch.zeros(1, 10, 4), torch.ones(1, 10, 4)
        >>> lcr(a, b, 3)[0, :, 0].tolist()
        [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    """
    for name, ws in (("identity_ws", identity_ws), ("attribute_ws", attribute_ws)):
        if not isinstance(ws, torch.Tensor) or not ws.is_floating_point() or ws.ndim != 3:
            raise ValueError(f"{name} must be a float tensor [N, num_ws, w_dim], got "
                             f"{list(ws.shape) if isinstance(ws, torch.Tensor) else type(ws).__name__}")
        if not torch.isfinite(ws).all():
            raise ValueError(f"{name} holds NaN or Inf values; pass a finite latent")
    if identity_ws.shape[1:] != attribute_ws.shape[1:]:
        raise ValueError(f"identity_ws {list(identity_ws.shape)} and attribute_ws {list(attribute_ws.shape)} must "
                         "agree in [num_ws, w_dim]: are they codes of the same generator?")
    n_i, n_a = len(identity_ws), len(attribute_ws)
    if n_i != n_a and 1 not in (n_i, n_a):
        raise ValueError(f"identity_ws has N = {n_i}, attribute_ws N = {n_a}: equal, or 1 on one side")
    num_ws = identity_ws.shape[1]
    split = default_split(num_ws) if split is None else check_split(split, num_ws)
    n = max(n_i, n_a)
    return torch.cat([attribute_ws[:, :split].expand(n, -1, -1), identity_ws[:, split:].expand(n, -1, -1)], dim=1)


__all__ = ["DEFAULT_SPLIT", "default_split", "check_split", "lcr"]
