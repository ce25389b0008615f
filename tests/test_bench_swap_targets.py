"""`bench/swap.py`'s verdicts on issue 20's targets, on planted figures where the right answer is known."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("bench_swap", ROOT / "bench" / "swap.py")
bench_swap = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench_swap)

CEIL = dict(recon_id_top1=0.98, judge_recon_id_top1=0.50, recon_pose_error=3.7, recon_expression_error=0.22,
            recon_psnr=24.0)


def _row(oracle, judge, pose=3.0, expr=0.24, psnr=21.0, ms=12.0):
    return dict(id_top1=oracle, judge_id_top1=judge, pose_error=pose, expression_error=expr, psnr=psnr, ms_per_swap=ms)


def test_best_method_is_read_per_judge_against_0_9_of_reconstruction():
    rows = {"lcr": _row(0.20, 0.10), "ftm": _row(0.95, 0.30), "inject": _row(0.90, 0.46)}
    oracle, judge = bench_swap.targets(CEIL, rows, {})[:2]
    # oracle: ftm is best, 0.95 >= 0.882; judge: inject is best, 0.46 >= 0.45 (0.9 x 0.50)
    assert oracle.startswith("ID (oracle): best ftm 0.950") and ": met" in oracle
    assert oracle.endswith("ranking lcr 0.200 -> inject 0.900 -> ftm 0.950")
    assert judge.startswith("ID (judge): best inject 0.460") and ": met" in judge
    rows["inject"] = _row(0.90, 0.44)  # just under 0.45
    assert ": missed (0.88 x)" in bench_swap.targets(CEIL, rows, {})[1]


def test_per_method_targets_flip_at_their_thresholds():
    ok = _row(0.9, 0.4, pose=2.5, expr=0.25, psnr=20.0, ms=30.0)  # every figure exactly on its bound
    bad = _row(0.9, 0.4, pose=2.6, expr=0.251, psnr=19.9, ms=30.5)
    lines = bench_swap.targets(CEIL, {"ok": ok, "bad": bad}, {"ok": 6.0, "bad": 6.1})
    ok_line, bad_line = (next(ln for ln in lines if ln.startswith(f"{m}: ")) for m in ("ok", "bad"))
    assert ok_line.count(": met") == 5 and "missed" not in ok_line, ok_line
    assert bad_line.count(": missed") == 5 and ": met" not in bad_line, bad_line
    assert "photos" not in bench_swap.targets(CEIL, {"ok": ok}, {})[-1]  # not timed: not judged
