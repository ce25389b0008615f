"""Builders for checkpoint files in the exact layouts users download, made without the original code.

- NVlabs StyleGAN2-ADA snapshots: each network pickled as `torch_utils.persistence.
  _reconstruct_persistent_obj(meta)` with `meta = {type, version, module_src, class_name, state}`.
- Original TF StyleGAN2 pickles: a tuple `(G, D, Gs)` of `dnnlib.tflib.network.Network` objects.
- Hostile pickles whose loading would run `os.system` or create a file.
"""
from __future__ import annotations

import collections
import contextlib
import os
import pickle
import sys
import types

import numpy as np
import torch

BUFFERS = ("w_avg", "noise_const", "resample_filter")


@contextlib.contextmanager
def fake_modules():
    """Temporarily provide `torch_utils.persistence` and `dnnlib.util` so pickle can name them."""
    names = ["torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util", "dnnlib.tflib",
             "dnnlib.tflib.network"]
    saved = {n: sys.modules.get(n) for n in names}
    mods = {n: types.ModuleType(n) for n in names}

    def _reconstruct_persistent_obj(meta):  # never called by the code under test
        raise AssertionError("the NVlabs persistence hook must not be called")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    mods["torch_utils.persistence"]._reconstruct_persistent_obj = _reconstruct_persistent_obj
    EasyDict = type("EasyDict", (dict,), {"__module__": "dnnlib.util"})
    mods["dnnlib.util"].EasyDict = EasyDict
    Network = type("Network", (), {"__module__": "dnnlib.tflib.network",
                                   "__getstate__": lambda self: self._state,
                                   "__setstate__": lambda self, s: setattr(self, "_state", s)})
    mods["dnnlib.tflib.network"].Network = Network
    sys.modules.update(mods)
    try:
        yield types.SimpleNamespace(reconstruct=_reconstruct_persistent_obj, EasyDict=EasyDict, Network=Network)
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m


class _Persistent:
    def __init__(self, fn, meta):
        self.fn, self.meta = fn, meta

    def __reduce__(self):
        return (self.fn, (self.meta,))


def _class_name(path: str, is_d: bool) -> str:
    last = path.split(".")[-1] if path else ""
    if not path:
        return "Discriminator" if is_d else "Generator"
    if last == "mapping":
        return "MappingNetwork"
    if last == "synthesis":
        return "SynthesisNetwork"
    if last.startswith("fc") or last in ("affine", "embed", "out"):
        return "FullyConnectedLayer"
    if last == "b4" and is_d:
        return "DiscriminatorEpilogue"
    if last.startswith("b"):
        return "DiscriminatorBlock" if is_d else "SynthesisBlock"
    if last == "torgb":
        return "ToRGBLayer"
    if last == "mbstd":
        return "MinibatchStdLayer"
    return "Conv2dLayer" if is_d else "SynthesisLayer"


def persistent_tree(params: dict[str, torch.Tensor], init_kwargs: dict, ns, module_src: str, is_d: bool = False,
                    extra_state: dict | None = None, nested_extra: dict | None = None):
    """Nest flat NVlabs names into persistent objects (parameters vs buffers as NVlabs registers them)."""
    tree: dict = {}
    for name, value in params.items():
        *mods, leaf = name.split(".")
        node = tree
        for m in mods:
            node = node.setdefault(m, {})
        node[leaf] = value

    def build(node: dict, path: str):
        state = {
            "training": False,
            "_parameters": collections.OrderedDict(),
            "_buffers": collections.OrderedDict(),
            "_modules": collections.OrderedDict(),
            "_forward_hooks": collections.OrderedDict(),
            "_init_args": (),
            "_init_kwargs": ns.EasyDict(init_kwargs if not path else {}),
            "weight_gain": np.float64(0.125),  # plain attributes NVlabs keeps, e.g. numpy scalars
        }
        for key, value in node.items():
            if isinstance(value, dict):
                state["_modules"][key] = build(value, f"{path}.{key}" if path else key)
            elif key in BUFFERS:
                state["_buffers"][key] = value.clone()
            else:
                state["_parameters"][key] = torch.nn.Parameter(value.clone())
        if not path and extra_state:
            state.update(extra_state)
        if nested_extra and path == nested_extra.get("path"):
            state.update(nested_extra["state"])
        meta = dict(type="class", version=6, module_src=module_src, class_name=_class_name(path, is_d), state=state)
        return _Persistent(ns.reconstruct, meta)

    return build(tree, "")


def training_weights(params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Stand-in for the non-EMA training generator `G` (or TF `G`) of a snapshot: same shapes as the
    EMA weights `params`, different values (filters kept), so a loader that picks it is caught."""
    return {k: v if k.endswith("resample_filter") else v + 0.5 for k, v in params.items()}


def nvlabs_snapshot(params: dict[str, torch.Tensor], init_kwargs: dict, module_src: str = "",
                    d_params: dict | None = None, d_kwargs: dict | None = None, extra_state: dict | None = None,
                    nested_extra: dict | None = None, g_params: dict | None = None) -> bytes:
    """Bytes of a StyleGAN2-ADA `network-snapshot-*.pkl`: `{G, D, G_ema, augment_pipe, training_set_kwargs}`.

    `params` go to `G_ema`; `G` holds `g_params` (default `training_weights(params)`), as in real snapshots."""
    with fake_modules() as ns:
        g_ema = persistent_tree(params, init_kwargs, ns, module_src, extra_state=extra_state,
                                nested_extra=nested_extra)
        g = persistent_tree(training_weights(params) if g_params is None else g_params, init_kwargs, ns, module_src)
        d = persistent_tree(d_params, d_kwargs or {}, ns, module_src, is_d=True) if d_params else None
        snap = {"G": g, "D": d, "G_ema": g_ema, "augment_pipe": None,
                "training_set_kwargs": ns.EasyDict(resolution=init_kwargs.get("img_resolution"))}
        return pickle.dumps(snap, protocol=pickle.HIGHEST_PROTOCOL)


def tf_snapshot(params: dict[str, torch.Tensor], static_kwargs: dict) -> bytes:
    """Bytes of an original TF StyleGAN2 pickle `(G, D, Gs)`, built from NVlabs-named `params` by the
    inverse of NVlabs' legacy converter (TF conv weights `[kh, kw, I, O]`, Conv0_up flipped, mod_bias - 1).
    `Gs` (the EMA generator) holds `params`; the training `G` holds `training_weights(params)`."""
    with fake_modules() as ns:
        gs = _tf_generator(params, static_kwargs, ns)
        g = _tf_generator(training_weights(params), static_kwargs, ns)
        d = _tf_net(ns, "D", [])
        return pickle.dumps((g, d, gs), protocol=2)


def _tf_net(ns, name, variables, components=None, kwargs=None):
    n = ns.Network()
    n._state = dict(version=4, name=name, static_kwargs=kwargs or {}, components=components or {},
                    build_module_src="import os\nos.system('echo should-not-run')",
                    build_func_name="G_main", variables=variables)
    return n


def _tf_generator(params: dict[str, torch.Tensor], static_kwargs: dict, ns):
    def a(t):
        return t.detach().numpy().astype(np.float32)

    mapping_vars, synth_vars, top_vars = [], [], [("dlatent_avg", a(params["mapping.w_avg"])), ("lod", np.float32(0))]
    for name, value in params.items():
        if name.startswith("mapping.fc"):
            i, kind = name.split(".")[1][2:], name.split(".")[2]
            mapping_vars.append((f"Dense{i}/{kind}", a(value).T if kind == "weight" else a(value)))
    res_list = sorted({int(n.split(".")[1][1:]) for n in params if n.startswith("synthesis.b")})
    for r in res_list:
        p = f"synthesis.b{r}."
        if r == 4:
            synth_vars.append(("4x4/Const/const", a(params[p + "const"])[None]))
        layers = {"conv1": "Conv"} if r == 4 else {"conv0": "Conv0_up", "conv1": "Conv1"}
        for ours, theirs in layers.items():
            q = p + ours + "."
            w = a(params[q + "weight"]).transpose(2, 3, 1, 0)  # [O,I,kh,kw] -> [kh,kw,I,O]
            if theirs == "Conv0_up":
                w = w[::-1, ::-1]
            synth_vars += [(f"{r}x{r}/{theirs}/weight", np.ascontiguousarray(w)),
                           (f"{r}x{r}/{theirs}/bias", a(params[q + "bias"])),
                           (f"{r}x{r}/{theirs}/noise_strength", a(params[q + "noise_strength"])),
                           (f"{r}x{r}/{theirs}/mod_weight", a(params[q + "affine.weight"]).T),
                           (f"{r}x{r}/{theirs}/mod_bias", a(params[q + "affine.bias"]) - 1)]
            idx = 0 if r == 4 else int(np.log2(r)) * 2 - (5 if ours == "conv0" else 4)
            synth_vars.append((f"noise{idx}", a(params[q + "noise_const"])[None, None]))
        q = p + "torgb."
        synth_vars += [(f"{r}x{r}/ToRGB/weight", np.ascontiguousarray(a(params[q + "weight"]).transpose(2, 3, 1, 0))),
                       (f"{r}x{r}/ToRGB/bias", a(params[q + "bias"])),
                       (f"{r}x{r}/ToRGB/mod_weight", a(params[q + "affine.weight"]).T),
                       (f"{r}x{r}/ToRGB/mod_bias", a(params[q + "affine.bias"]) - 1)]
    return _tf_net(ns, "G", top_vars, {"mapping": _tf_net(ns, "G_mapping", mapping_vars),
                                       "synthesis": _tf_net(ns, "G_synthesis", synth_vars)}, static_kwargs)


class Payload:
    """An object whose unpickling calls `fn(*args)`: the classic pickle attack."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def os_system_payload(canary: str) -> Payload:
    return Payload(os.system, f"touch {canary}")


def open_file_payload(canary: str) -> Payload:
    return Payload(open, canary, "w")
