"""`sgt train-delta`: render one-attribute CGI sequences, invert them into a generator, train the
Delta-GAN encoder on the codes and save the calibrated edit. Runs under torchrun too
(`torchrun --nproc_per_node=K -m edits.delta.cli --network ... --attribute yaw --out DIR`)."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from stylegan.cli_network import load_network

from ..attributes import ATTRIBUTES

_CTX = {"show_default": True}


@click.command(context_settings=_CTX)
@click.option("--network", required=True,
              help="Checkpoint path or registered name (e.g. synthheads, or your FFHQ .pkl).")
@click.option("--attribute", type=click.Choice(list(ATTRIBUTES)), required=True, help="What the edit changes.")
@click.option("--pairs", type=int, default=20, help="How many CGI heads go through the change (>= 2).")
@click.option("--frames", type=int, default=3,
              help="Attribute values per head, evenly over the attribute's span (2 = a plain pair).")
@click.option("--out", "out", type=click.Path(file_okay=False), required=True, help="The edit's model folder.")
@click.option("--data", "data_path", type=click.Path(dir_okay=False), default=None,
              help="Inverted-codes file (default OUT_data.npz); reused, or continued when interrupted.")
@click.option("--steps", type=int, default=None, help="Training steps (default: the library's).")
@click.option("--refine-steps", type=int, default=None,
              help="Projection steps per frame (default: 0 with a registered encoder, else projection's default).")
@click.option("--refine-id-weight", type=click.FloatRange(min=0), default=None,
              help="The refining projection's identity-term weight (default: the library's; 0 lets the codes follow "
                   "an expression further: bench/attribute_range.py measured 55 % of a smile change at 200 steps "
                   "without it, 16 % with the default inversion).")
@click.option("--no-calibrate", is_flag=True,
              help="Keep strength in raw Δ units (for a generator the synthetic oracle cannot read).")
@click.option("--seed", type=int, default=0, help="Seeds the heads, the projections and training.")
@click.option("--image-weight", type=click.FloatRange(min=0), default=None,
              help="Image term: distance of the transferred edit's render to the exact render (default: the "
                   "library's, edits.delta.DeltaTrainConfig).")
@click.option("--id-weight", type=click.FloatRange(min=0), default=None,
              help="Identity term: 1 - cos of the oracle's identity embeddings of that render and the reference "
                   "(--term-reference).")
@click.option("--leak-weight", type=click.FloatRange(min=0), default=None,
              help="Leakage term: the oracle's change of every other attribute, in noticeable units.")
@click.option("--attr-weight", type=click.FloatRange(min=0), default=None,
              help="Attribute term: the oracle's reading of the edited attribute against the exact change.")
@click.option("--terms", type=click.Choice(["auto", "off"]), default=None,
              help="auto: the library's image-space terms for a shipped synthetic-head generator "
                   "(edits.delta.TERMS_AUTO; none for any other generator); off: the paper's code loss alone, "
                   "plus any weight given here. Default: auto.")
@click.option("--term-reference", type=click.Choice(["truth", "source"]), default=None,
              help="What the identity, leakage and attribute terms compare with: the exact render of the changed "
                   "head, or G's render of the code the change starts from (preservation). Default: the library's.")
@click.option("--decoder", type=click.Choice(["code", "shift"]), default=None,
              help="What the decoder reads: the code it changes and the change (code, the paper's), or the change "
                   "alone, one change for every head (shift: for expressions whose code change is mostly the head's "
                   "own, bench/RESULTS.md). Default: the library's (code).")
@click.option("--lambda-same", "lambda_same", type=click.FloatRange(min=0), default=None,
              help="Weight of the paper's 'same' term (rebuild a_j from a_i and Δ; default 1). 0: Δ only has to "
                   "transfer to other heads, so with --decoder shift it carries the change they share.")
def train_delta(network, attribute, pairs, frames, out, data_path, steps, refine_steps, refine_id_weight, no_calibrate,
                seed, image_weight=None, id_weight=None, leak_weight=None, attr_weight=None, terms=None,
                term_reference=None, decoder=None, lambda_same=None):
    """Learn an edit of --attribute for --network from --pairs rendered CGI heads (Delta-GAN encoder)."""
    import torch.distributed as dist

    from sgtcore import registry

    from . import data as delta_data
    from .edit import make_edit
    from .train import DeltaTrainConfig, train_delta as train

    if pairs < 1:
        raise click.BadParameter(f"at least 1 head is needed to learn a change, got {pairs}", param_hint="--pairs")
    if frames < 2:
        raise click.BadParameter(f"a sequence needs at least 2 frames, got {frames}", param_hint="--frames")
    if steps is not None and steps < 1:
        raise click.BadParameter(f"must be positive, got {steps}", param_hint="--steps")
    G = load_network(network)
    try:
        D = load_network(network, "discriminator")  # the D-feature loss, when projection refines
    except click.ClickException:
        D = None
    out = Path(out)
    data_path = Path(data_path) if data_path else out.with_name(out.name + "_data.npz")
    try:
        refine = {} if refine_id_weight is None else {"id_weight": float(refine_id_weight)}
        data = delta_data.build(G, attribute, pairs, frames, data_path, seed=seed, steps=refine_steps, D=D, **refine)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    given = {k: v for k, v in (("steps", steps), ("image_weight", image_weight), ("id_weight", id_weight),
                               ("leak_weight", leak_weight), ("attr_weight", attr_weight), ("terms", terms),
                               ("term_reference", term_reference), ("decoder", decoder),
                               ("lambda_same", lambda_same)) if v is not None}
    cfg = DeltaTrainConfig(seed=seed, **given)
    args = ["--network", str(network), "--attribute", attribute, "--pairs", str(pairs), "--frames", str(frames),
            "--seed", str(seed)] + (["--steps", str(steps)] if steps else []) + \
        (["--refine-steps", str(refine_steps)] if refine_steps is not None else []) + \
        (["--refine-id-weight", str(refine_id_weight)] if refine_id_weight is not None else []) + \
        [x for k, v in given.items() if k != "steps" for x in ("--" + k.replace("_", "-"), str(v))]
    meta = {"network": str(network), "command": "sgt train-delta " + shlex.join(args)}
    net, report = train(data, G, cfg, outdir=out.with_name(out.name + "_log"), D=D)
    if dist.is_available() and dist.is_initialized() and dist.get_rank() != 0:
        return
    try:
        edit = make_edit(net, data, G, calibrate=not no_calibrate, info={"train": report["train"],
                         "final_loss": report["final"], "psnr": float(data.psnr.mean())}, metadata=meta, progress=True)
    except ValueError as exc:  # the oracle could not see the change
        raise click.ClickException(f"{exc}; pass --no-calibrate to keep raw Δ units") from None
    path = edit.save(out)
    registry.refresh()
    cal = f", calibrated over {edit.range[0]:+.3g}..{edit.range[1]:+.3g} {edit.unit}" if edit.calibration else ""
    click.echo(f"{edit.name}: {data.heads} heads x {len(data.values)} frames "
               f"(inversion PSNR {float(data.psnr.mean()):.1f} dB){cal} -> {path}")


if __name__ == "__main__":  # torchrun -m edits.delta.cli ...
    train_delta(sys.argv[1:])
