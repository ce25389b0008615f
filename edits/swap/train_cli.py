"""`sgt train-swap`: build (or continue) the training data and train an FTM, blend or inject network for a generator.
Runs under torchrun too (`torchrun --nproc_per_node=K -m edits.swap.train_cli --method ftm --network ... --out DIR`).
"""
from __future__ import annotations

import shlex
import sys
from dataclasses import asdict
from pathlib import Path

import click

_CTX = {"show_default": True}


@click.command(context_settings=_CTX)
@click.option("--method", type=click.Choice(["ftm", "blend", "inject"]), required=True,
              help="Which network to train (inject: conditioned on the identity's embedding, the oracle's or "
                   "--identity-net's).")
@click.option("--network", required=True, help="Checkpoint path or registered name (e.g. synthheads, or your .pkl).")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The network's model folder (training state and log go to OUT_log/).")
@click.option("--photos", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Train on this folder of face photos (no truth: self-swap, identity and landmark losses) "
                   "instead of rendered synthetic heads with exact swap truth.")
@click.option("--data", "data_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Training data file (default OUT_data.npz); reused, or continued when interrupted.")
@click.option("--extra-data", "extra_data", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="More finished training data files (e.g. built with another --seed) to train on too (repeatable).")
@click.option("--heads-from", "heads_from", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Synthetic: reuse the inverted heads (and truths) of this data file, built with the same --seed "
                   "and inversion, e.g. a 600-identity set from a 5 000-head one (repeatable).")
@click.option("--data-only", is_flag=True, help="Build (or continue) the training data, then stop without training.")
@click.option("--heads", type=int, default=300, help="Synthetic: rendered and inverted training heads.")
@click.option("--pairs", type=int, default=12000, help="Synthetic: (identity, attribute) pairs with exact truth.")
@click.option("--invert-steps", type=int, default=None,
              help="Projection steps per head/photo (default: the library's inversion, as `sgt swap` uses).")
@click.option("--steps", type=int, default=None, help="Training steps (default: the library's).")
@click.option("--batch", type=int, default=None, help="Pairs per step (default: the library's).")
@click.option("--id-weight", type=float, default=None,
              help="Synthetic: weight of the oracle identity loss (default 0; the identity judge that scores the protocol never trains anything).")
@click.option("--identity-net", "identity_net", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="ArcFace IR-SE-50 weights (model_ir_se50.pth) for the identity terms instead of the "
                                 "oracle's (photos; synthetic with --id-weight); landmarks stay the oracle's. inject: "
                                 "also what embeds the identity (pass it to `sgt swap --identity-net` too).")
@click.option("--ftm", "ftm_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Blend: the FTM network whose codes it blends (default: the one registered for --network; "
                   "LCR codes when there is none).")
@click.option("--init-from", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Start from this network's weights (fine-tuning).")
@click.option("--no-resume", is_flag=True, help="Start over instead of continuing OUT_log/train_state.pt.")
@click.option("--seed", type=int, default=0, help="Seeds the synthetic heads and the training pairs.")
def train_swap(method, network, out, photos, data_path, extra_data, heads_from, data_only, heads, pairs, invert_steps,
               steps, batch, id_weight, identity_net, ftm_dir, init_from, no_resume, seed):
    """Train the --method swap network for --network and save it to --out (the one model format).

    \b
    Example:
      sgt train-swap --method ftm --network synthheads --out runs/ftm --heads 300 --pairs 12000
      sgt train-swap --method blend --network ffhq.pkl --photos my_faces/ --out runs/blend
      sgt swap --identity a.png --attribute b.png --method ftm --network ffhq.pkl --swap-net runs/ftm
    """
    from stylegan.train import close_distributed, init_distributed

    info = init_distributed("cpu")  # under torchrun: the ranks share the data building and train with DDP
    try:
        _train_swap(method, network, out, photos, data_path, extra_data, heads, pairs, invert_steps, steps, batch, id_weight,
                    ftm_dir, init_from, no_resume, seed, identity_net, heads_from, data_only)
    finally:
        close_distributed(info)


def _train_swap(method, network, out, photos, data_path, extra_data, heads, pairs, invert_steps, steps, batch, id_weight, ftm_dir,
                init_from, no_resume, seed, identity_net=None, heads_from=(), data_only=False):
    import torch.distributed as dist

    from sgtcore import modelio
    from sgtcore.errors import CheckpointError
    from stylegan.cli_network import load_network
    from stylegan.train import rank_world

    from . import data as swap_data
    from .api import find_network
    from .train import SwapTrainConfig, train

    for name, v in (("--steps", steps), ("--batch", batch), ("--heads", heads), ("--pairs", pairs)):
        if v is not None and v < 1:
            raise click.BadParameter(f"must be positive, got {v}", param_hint=name)
    if photos is not None and heads_from:
        raise click.BadParameter("reuses rendered synthetic heads; a photo folder has its own", param_hint="--heads-from")
    G = load_network(network)
    D = load_network(network, "discriminator", required=False)
    data_path = data_path or out.with_name(out.name + "_data.npz")
    kw = {} if invert_steps is None else {"steps": int(invert_steps)}
    rank, world = rank_world()
    try:
        # the networks first: a --ftm or --init-from made for another generator stops before any inversion
        base = init = None
        if method == "blend" and not data_only:
            base = modelio.load(ftm_dir, expect="TransferNet", generator=G) if ftm_dir else find_network(G, "ftm")
        if init_from is not None:
            init = modelio.load(init_from, expect=("TransferNet", "BlendNet", "InjectNet"), generator=G)
        id_net = None
        if identity_net is not None:
            from inversion.identity import load_identity_net

            id_net = load_identity_net(identity_net)
        if photos is not None:
            data = swap_data.from_folder(G, photos, data_path, **kw) if rank == 0 else None
            if world > 1:
                dist.barrier()  # rank 0 inverts the photos; the others read its file
            data = data if rank == 0 else swap_data.load(data_path, G)
        else:
            data = swap_data.build(G, heads, pairs, data_path, seed=seed, heads_from=heads_from, **kw)
        if extra_data:
            data = swap_data.merge([data, *(swap_data.load(p, G) for p in extra_data)])
    except (ValueError, CheckpointError, FileNotFoundError) as exc:
        raise click.ClickException(" ".join(str(exc).split())) from None
    if data_only:
        if rank == 0:
            click.echo(f"training data: {data.heads} {'photos' if photos else 'heads'}"
                       f"{'' if photos else f', {len(data.pairs)} pairs with exact truth'} -> {data_path}")
        return
    cfg = SwapTrainConfig(method=method, seed=seed, **{k: v for k, v in
                          (("steps", steps), ("batch", batch), ("id_weight", id_weight)) if v is not None})
    net = train(G, data, cfg, out.with_name(out.name + "_log"), D=D, base=base, init=init, resume=not no_resume,
                identity_net=id_net)
    if rank != 0:
        return
    args = ["--method", method, "--network", str(network), "--seed", str(seed)] + \
        (["--photos", str(photos)] if photos else ["--heads", str(heads), "--pairs", str(pairs)]) + \
        [x for p in extra_data for x in ("--extra-data", Path(p).name)] + \
        [x for k, v in (("--steps", steps), ("--batch", batch), ("--id-weight", id_weight),
                        ("--invert-steps", invert_steps)) if v is not None for x in (k, str(v))] + \
        (["--identity-net", Path(identity_net).name] if identity_net else [])
    meta = {"network": str(network), "command": "sgt train-swap " + shlex.join(args), "train": asdict(cfg),
            "data": {k: v for k, v in data.meta.items() if k not in ("head_ids", "pair_ids", "files")},
            "train_seconds": round(getattr(net, "train_seconds", 0.0), 1),
            "ranks": world}
    path = modelio.save(net, out, generator=G, half=True, metadata=meta)
    click.echo(f"{method}: trained on {data.heads} {'photos' if photos else 'heads'}"
               f"{'' if photos else f', {len(data.pairs)} pairs with exact truth'} -> {path}\n"
               f"use it: sgt swap --method {method} --network {network} --swap-net {path} ...")


if __name__ == "__main__":  # torchrun -m edits.swap.train_cli ...
    train_swap(sys.argv[1:])
