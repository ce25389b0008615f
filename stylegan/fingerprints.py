"""`fingerprint(G)`: a short name for a generator's weights, recorded by everything made for one
generator (encoders, PTI deltas, edits, swap networks) so that it is never used with another."""
from __future__ import annotations

import functools
import hashlib
import json
import weakref

import torch

# G -> (key of the hashed tensors' identities and in-place versions, fingerprint)
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _hashed_weights(G: torch.nn.Module) -> list[tuple[str, torch.Tensor]]:
    """Synthesis conv and ToRGB weights `[O, I, k, k]`, sorted by name."""
    return sorted((n, p) for n, p in G.synthesis.named_parameters() if n.endswith(".weight") and p.ndim == 4)


def fingerprint(G: torch.nn.Module) -> str:
    """16 hex digits: a SHA-256 of G's config and of the first 256 values of every synthesis conv
    and ToRGB weight.

    Cached per G until one of those tensors is replaced or changed in place (an optimiser step,
    `load_state_dict`); a change made through `.data` bypasses torch's version counter and is missed.
    The algorithm is frozen: the shipped encoder records "5184caac4bde2d83" for `synthheads`.
    """
    weights = _hashed_weights(G)
    key = tuple((id(p), p._version) for _, p in weights)
    hit = _CACHE.get(G)
    if hit is not None and hit[0] == key:
        return hit[1]
    h = hashlib.sha256()
    h.update(json.dumps(G.config.to_dict() if hasattr(G, "config") else {}, sort_keys=True).encode())
    for name, p in weights:
        h.update(name.encode())
        h.update(p.detach().flatten()[:256].cpu().float().numpy().tobytes())
    _CACHE[G] = (key, h.hexdigest()[:16])
    return _CACHE[G][1]


@functools.lru_cache(maxsize=None)
def _shipped() -> frozenset[str]:
    """Fingerprints of the generators shipped in `stylegan/weights` (read once; they do not change)."""
    from sgtcore import registry
    from stylegan.loading import load

    return frozenset(fingerprint(load(e.path)) for e in registry.shipped() if e.kind == "generator")


def is_shipped(G: torch.nn.Module) -> bool:
    """True for a generator shipped with the toolkit, by fingerprint (a copy under another name counts too).

    All of them are trained on the synthetic heads of `synthetic/`, so the oracle reads their images."""
    return fingerprint(G) in _shipped()
