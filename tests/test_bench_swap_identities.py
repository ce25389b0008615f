"""`bench/swap_identities.py`'s bookkeeping: which counts it trains, which network each evaluation reads, what a
re-run skips, and which `--net` it refuses. The commands themselves are recorded, not run."""
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("bench_swap_identities", ROOT / "bench" / "swap_identities.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def _net(folder: Path, heads: int, pairs: int = 40, steps: int = 30, method: str = "ftm") -> Path:
    folder.mkdir(parents=True)
    meta = {"train": {"method": method, "steps": steps, "id_weight": 1.0}, "data": {"heads": heads, "pairs": pairs}}
    (folder / "config.json").write_text(json.dumps({"kind": "swap", "metadata": meta}))
    return folder


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """Runs main() with recorded commands: training writes its network, evaluation a result whose ID figure is the
    number of heads the evaluated network records (so each row shows which network it read)."""
    big = tmp_path / "big.npz"
    np.savez(big, meta=json.dumps({"heads": 20, "pairs": 40, "seed": 3}))
    calls = []

    def run(args, threads):
        calls.append(args)
        if "edits.swap.train_cli" in args:
            _net(Path(args[args.index("--out") + 1]), int(args[args.index("--heads") + 1]))
        else:
            net = Path(args[args.index("--swap-net") + 1])
            heads = json.loads((net / "config.json").read_text())["metadata"]["data"]["heads"]
            Path(args[args.index("--out") + 1]).write_text(json.dumps(
                {"ceiling": {"recon_id_top1": 0.9, "id_top1": 0.95}, "trained": [{"id_top1": heads / 100}]}))

    monkeypatch.setattr(bench, "_run", run)

    def main(*extra):
        monkeypatch.setattr(sys, "argv", ["swap_identities.py", "--big", str(big), "--pairs", "40", "--steps", "30",
                                          "--id-weight", "1", "--out", str(tmp_path / "curve"),
                                          "--json", str(tmp_path / "curve.json"), *extra])
        bench.main()
        return json.loads((tmp_path / "curve.json").read_text())
    return main, calls, tmp_path


def test_trains_the_counts_it_holds_and_evaluates_a_given_network_without_training_it(fake):
    main, calls, tmp = fake
    shipped = _net(tmp / "shipped", 50)
    rows = main("--counts", "6,20,50", "--net", f"50={shipped}")["rows"]
    trains = [c for c in calls if "edits.swap.train_cli" in c]
    assert [c[c.index("--heads") + 1] for c in trains] == ["6", "20"]
    # the smaller count renders its own pairs from the big build's heads; the full count trains on the big build
    assert "--heads-from" in trains[0] and "--heads-from" not in trains[1]
    assert str(tmp / "big.npz") == trains[1][trains[1].index("--data") + 1]
    assert {n: (r["validation"]["id_top1"], r["protocol"]["id_top1"]) for n, r in rows.items()} == {
        "6": (0.06, 0.06), "20": (0.2, 0.2), "50": (0.5, 0.5)}
    assert rows["50"]["net"] == str(shipped) and "train_s" not in rows["50"] and "train_s" in rows["6"]


def test_a_rerun_reads_finished_evaluations_instead_of_repeating_them(fake):
    main, calls, tmp = fake
    main("--counts", "6")
    assert len(calls) == 3  # one training, two evaluations
    (tmp / "curve.json").unlink()  # e.g. interrupted before the summary was written
    calls.clear()
    rows = main("--counts", "6")["rows"]
    assert calls == [] and rows["6"]["protocol"]["id_top1"] == 0.06


@pytest.mark.parametrize("spec, words", [
    ("50", "expected N=DIR"),
    ("50={tmp}/nothing", "no trained swap network"),
    ("20={tmp}/shipped", "on 50 heads / 40 pairs, not ftm on 20 / 40"),
    ("50={tmp}/other_steps", "trained with {'steps': 99}"),
])
def test_a_given_network_that_does_not_fit_its_count_is_refused(fake, spec, words):
    main, calls, tmp = fake
    _net(tmp / "shipped", 50)
    _net(tmp / "other_steps", 50, steps=99)
    with pytest.raises(SystemExit, match=None) as err:
        main("--counts", "50", "--net", spec.format(tmp=tmp))
    assert words in str(err.value) and calls == []
