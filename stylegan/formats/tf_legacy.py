"""The original TensorFlow StyleGAN2 pickles: `(G, D, Gs)` of `dnnlib.tflib.network.Network`, whose
state holds numpy variables. No TensorFlow needed: only the variable map to NVlabs' PyTorch names."""
from __future__ import annotations

import re

import numpy as np
import torch

from stylegan.formats.errors import ArchitectureMismatchError
from stylegan.formats.safe_pickle import TFNetworkStub


def collect_variables(net: TFNetworkStub) -> dict[str, np.ndarray]:
    """All variables of a network and its components, named 'component/scope/var'."""
    out: dict[str, np.ndarray] = {}

    def recurse(prefix: str, n: TFNetworkStub) -> None:
        for name, value in n.variables:
            out[prefix + name] = np.asarray(value)
        for name, comp in n.components.items():
            if not isinstance(comp, TFNetworkStub):
                raise ArchitectureMismatchError(f"TF component {name} is not a network")
            recurse(prefix + name + "/", comp)

    recurse("", net)
    return out


def _conv(w: np.ndarray, flip: bool = False) -> np.ndarray:
    """TF conv weight `[kh, kw, I, O]` -> `[O, I, kh, kw]`; TF's transposed convs need a spatial flip."""
    if flip:
        w = w[::-1, ::-1]
    return w.transpose(3, 2, 0, 1)


def generator_state(net: TFNetworkStub, source: str) -> tuple[dict[str, torch.Tensor], dict]:
    """Map a TF `Gs` to NVlabs PyTorch state-dict names (same transforms as NVlabs' legacy converter)."""
    tf = collect_variables(net)
    kw = net.static_kwargs
    if kw.get("architecture", "skip") != "skip":
        raise ArchitectureMismatchError(f"{source}: TF generator architecture {kw.get('architecture')!r} unsupported")
    sd: dict[str, np.ndarray] = {}
    try:
        sd["mapping.w_avg"] = tf["dlatent_avg"]
        for name, value in tf.items():
            if m := re.fullmatch(r"mapping/Dense(\d+)/weight", name):
                sd[f"mapping.fc{m.group(1)}.weight"] = value.T
            elif m := re.fullmatch(r"mapping/Dense(\d+)/bias", name):
                sd[f"mapping.fc{m.group(1)}.bias"] = value
        res_list = sorted({int(m.group(1)) for n in tf if (m := re.fullmatch(r"synthesis/(\d+)x\d+/.*", n))})
        for r in res_list:
            p = f"synthesis/{r}x{r}/"
            layers = {"conv1": "Conv"} if r == 4 else {"conv0": "Conv0_up", "conv1": "Conv1"}
            if r == 4:
                sd["synthesis.b4.const"] = tf[p + "Const/const"][0]
            for ours, theirs in layers.items():
                q = f"synthesis.b{r}.{ours}."
                sd[q + "weight"] = _conv(tf[p + theirs + "/weight"], flip=(theirs == "Conv0_up"))
                sd[q + "bias"] = tf[p + theirs + "/bias"]
                sd[q + "noise_strength"] = np.asarray(tf[p + theirs + "/noise_strength"]).reshape([])
                sd[q + "affine.weight"] = tf[p + theirs + "/mod_weight"].T
                sd[q + "affine.bias"] = tf[p + theirs + "/mod_bias"] + 1  # TF stores the bias without its +1 init
                idx = int(np.log2(r)) * 2 - (5 if ours == "conv0" else 4)
                sd[q + "noise_const"] = tf[f"synthesis/noise{idx}"][0, 0]
            q = f"synthesis.b{r}.torgb."
            sd[q + "weight"] = _conv(tf[p + "ToRGB/weight"])
            sd[q + "bias"] = tf[p + "ToRGB/bias"]
            sd[q + "affine.weight"] = tf[p + "ToRGB/mod_weight"].T
            sd[q + "affine.bias"] = tf[p + "ToRGB/mod_bias"] + 1
    except KeyError as exc:
        raise ArchitectureMismatchError(f"{source}: TF generator is missing variable {exc}") from exc
    clamp = kw.get("conv_clamp")
    extra = dict(conv_clamp=float(clamp) if clamp is not None else None,
                 mapping_lr_multiplier=float(kw.get("mapping_lrmul", 0.01)))
    # np.array, not ascontiguousarray: the latter turns 0-d noise strengths into shape [1].
    return {k: torch.from_numpy(np.array(v, dtype=np.float32, order="C")) for k, v in sd.items()}, extra
