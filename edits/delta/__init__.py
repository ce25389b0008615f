"""The Delta-GAN encoder (Diamant, Sandor & Bronstein 2021): edits learned from a few rendered CGI pairs.

    >>> from edits.delta import build, train_delta, make_edit
    >>> data = build(G, "yaw", heads=20, frames=3, path="yaw_data.npz")   # render + invert   # doctest: +SKIP
    >>> net, report = train_delta(data, G)                                 # E and D            # doctest: +SKIP
    >>> edit = make_edit(net, data, G)                                     # calibrated, degrees # doctest: +SKIP

or `sgt train-delta --network synthheads --attribute yaw --pairs 20 --out my_yaw/`.
"""
from .data import DeltaData, build, load as load_data
from .edit import DeltaEdit, make_edit, reference_delta
from .model import DeltaConfig, DeltaNet
from .train import TERMS_AUTO, DeltaTrainConfig, resolve_terms, train_delta, transfer_error

__all__ = ["DeltaData", "build", "load_data", "DeltaEdit", "make_edit", "reference_delta", "DeltaConfig", "DeltaNet",
           "DeltaTrainConfig", "TERMS_AUTO", "resolve_terms", "train_delta", "transfer_error"]
