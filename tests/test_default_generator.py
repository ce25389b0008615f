"""One owner says which shipped model is the default: every `--network` option of `sgt`, the demo's model list
and `swap()` take it from `sgtcore.registry.DEFAULT_GENERATOR`, so switching the default is one line."""
from __future__ import annotations

import inspect

import click

from sgtcore import registry


def test_every_network_option_defaults_to_the_one_default():
    from demos.cli import main as sgt

    assert registry.DEFAULT_GENERATOR in registry.names("generator")  # a shipped model, found without setup
    seen = {}
    ctx = click.Context(sgt)
    for name in sgt.list_commands(ctx):
        for p in sgt.get_command(ctx, name).params:
            if "--network" in getattr(p, "opts", ()) and isinstance(p.default, str):  # not the required ones
                seen[name] = p.default
    assert len(seen) >= 6, seen  # project, edit, swap, eval-swap, demo, train-encoder, ...
    assert set(seen.values()) == {registry.DEFAULT_GENERATOR}, seen


def test_library_entry_points_default_to_it():
    from demos.models import DemoModel
    from edits.swap import api, video

    for fn, arg in ((api.swap, "G"), (video.swap_frames, "G"), (DemoModel.__init__, "network")):
        assert inspect.signature(fn).parameters[arg].default == registry.DEFAULT_GENERATOR
