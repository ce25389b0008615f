"""Identity swap: the identity image gives who, the attribute image pose, expression and lighting.

    >>> from edits import swap
    >>> r = swap(identity, attribute, method="lcr", G="synthheads")   # doctest: +SKIP
    >>> r.image, r.ws, r.mask, r.paste()                              # doctest: +SKIP

Methods: `lcr` (layer-wise code replacement in W+, `latent.py`; needs no weights), `ftm` (MegaFS transfer
cells, `ftm.py`), `blend` (feature blending under a learned face mask, `blend.py`) and `inject` (the
identity's embedding modulates the attribute's code, `inject.py`), trained by `train.py` on `data.py`'s
exact synthetic truth (`sgt train-swap`) and found in the registry (kind "swap"); `megafs-ftm`,
`megafs-injection`, `megafs-lcr` run MegaFS's released files (`megafs.py`, `swap_net=PATH`).
`api.Swapper` renders a swap for all of them; `trained_methods(G)` lists the ones that run for G. `evaluate.py` is the synthetic protocol behind `sgt eval-swap`,
`real_eval.py` the open real-photo one, `video.py` video mode.
"""
import sys
import types
from typing import Any

from .api import (MEGAFS_METHODS, METHODS, Prepared, SwapResult, Swapper, SwapUntrainedError, check_mask, check_method,
                  find_network, prepare, prepare_many, swap, trained_methods)
from .latent import DEFAULT_SPLIT, check_split, default_split, lcr

__all__ = ["swap", "SwapResult", "SwapUntrainedError", "Swapper", "Prepared", "prepare", "prepare_many", "check_method", "check_mask",
           "find_network", "trained_methods", "METHODS", "MEGAFS_METHODS", "lcr",
           "DEFAULT_SPLIT", "default_split", "check_split"]


class _CallableModule(types.ModuleType):
    """`from edits import swap; swap(identity, attribute)` calls `api.swap`, and `edits.swap.lcr`,
    `edits.swap.evaluate` stay reachable as attributes of the package."""

    def __call__(self, *args: Any, **kwargs: Any) -> SwapResult:
        return swap(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
