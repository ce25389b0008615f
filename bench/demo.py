"""Demo speed: the Edit tab's slider round trip against a launched server, and what it is made of.

    python bench/demo.py                     # starts `sgt demo` on a free port, measures, stops it
    python bench/demo.py --url http://127.0.0.1:7860/   # an already running demo (default network)

Everything is warm (the server's first calls are discarded) and every call asks for a slider value
not asked for before, so no cache answers it. Reported, p50 / p90 in ms:

- edit, browser-like: what a slider move costs the page: the latent is uploaded once, then each call
  is `POST /gradio_api/call/edit` + the server-sent events until `complete` + fetching the new image
  (the unchanged "before" keeps its URL, so a browser does not fetch it again); 1 client, and 4
  concurrent clients (the queue runs one torch job at a time, so they wait for each other);
- edit, gradio_client: `Client.predict(..., api_name="/edit")`, which uploads the latent and
  downloads every output image on each call;
- in process: the handler (`demos.edit_handlers.edit`) and the PNG encode (`demos.handlers.png_file`); the
  Invert handler on the main thread, on a worker thread, and from a worker through `MainThreadRunner`
  (median of `--inverts`), side by side: why `sgt demo` runs torch work on its main thread;
- generate, invert and swap round trips through `gradio_client` (invert with the demo's real settings;
  swap = lcr of two latents, and of two photos, which aligns and inverts both).

Targets (issue 13): edit ≤ 150 ms p50, and ≤ 300 ms p90 with 4 concurrent clients.

Under load (`--load`, on by default; `--only-load` measures nothing else):

- 20 concurrent /invert requests (the demo's real settings, one `gradio_client` each): latency p50 / p90 /
  max from submission to answer, and how many were refused (none should be: the queue holds 32);
- a burst past the bound: `demos.app.QUEUE_SIZE + 32` /generate calls posted at once (one thread each) over
  the raw API: how many got HTTP 503 "Queue is full" at once, and the slowest answer of the accepted ones;
- the server's resident memory (VmRSS of its process, from /proc) before, after 50 and after 200 light
  requests (/generate over the raw API, each a new Gradio session).

The 20 real inversions take ~20 × 18 s ≈ 6 min on a 2-core machine.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# Run as a script, this file's folder would come first on sys.path and shadow the `inversion` package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE.parent)]
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio_client is imported

import click  # noqa: E402
import httpx  # noqa: E402
import numpy as np  # noqa: E402

from sgtcore.machine import cpu_description  # noqa: E402
from sgtcore.registry import DEFAULT_GENERATOR  # noqa: E402

ROOT = _HERE.parent
EDIT = "sefa:0"  # the slider moved; every network we ship has it
TARGET_P50_MS, TARGET_P90_4_MS = 150.0, 300.0
LOAD_INVERTS, LOAD_LIGHT = 20, 200  # concurrent inverts; light requests over which RSS is read
BURST_EXTRA = 32  # the burst posts QUEUE_SIZE + this many /generate calls at once


def pct(values: list[float]) -> tuple[float, float]:
    """(p50, p90) of seconds, in ms."""
    a = np.asarray(values) * 1000
    return float(np.percentile(a, 50)), float(np.percentile(a, 90))


def values(n: int, offset: int = 0) -> list[float]:
    """n different strengths in (-3, 3), a golden-ratio walk (no value repeats, so no cache hit)."""
    return [round(-2.9 + 5.8 * (((i + offset) * 0.6180339887) % 1.0), 4) for i in range(1, n + 1)]


class Server:
    """`sgt demo` in a subprocess on a free port (a separate process: the clients must not share its GIL)."""

    def __init__(self, network: str):
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([sys.executable, "-m", "demos.cli", "demo", "--port", str(port),
                                      "--network", network], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=env, cwd=ROOT)
        timer = threading.Timer(300, self.proc.kill)
        timer.start()
        seen = []
        for line in self.proc.stdout:
            seen.append(line)
            if line.startswith("serving the demo at "):
                break
        timer.cancel()
        if not seen or not seen[-1].startswith("serving the demo at "):
            raise click.ClickException("the demo did not start:\n" + "".join(seen))
        self.url = seen[-1].split()[4]
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()  # keep its pipe drained

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class RawEdit:
    """The browser's path to /edit over plain HTTP: one upload, then call + events + new image per move."""

    def __init__(self, url: str, network: str, latent: Path):
        self.url, self.network = url.rstrip("/") + "/", network
        self.http = httpx.Client(timeout=60)
        with open(latent, "rb") as f:
            r = self.http.post(self.url + "gradio_api/upload", files={"files": (latent.name, f)})
        r.raise_for_status()
        self.file = {"path": r.json()[0], "orig_name": latent.name, "meta": {"_type": "gradio.FileData"}}

    def __call__(self, strength: float) -> float:
        t0 = time.perf_counter()
        data = [self.network, self.file, json.dumps({EDIT: strength}), None]
        r = self.http.post(self.url + "gradio_api/call/edit", json={"data": data})
        r.raise_for_status()
        event_id, event, payload = r.json()["event_id"], None, None
        with self.http.stream("GET", f"{self.url}gradio_api/call/edit/{event_id}") as stream:
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event in ("complete", "error"):
                    payload = line[5:].strip()
                    break
        if event != "complete":
            raise RuntimeError(f"/edit failed: {event} {payload}")
        after = json.loads(payload)[1]
        self.http.get(after["url"]).raise_for_status()  # the changed image, as the page fetches it
        return time.perf_counter() - t0


def in_process(network: str, latent: Path, n: int) -> tuple[list[float], list[float]]:
    """Handler and PNG-encode seconds per call, warm, a new strength each call."""
    import torch

    from demos import edit_handlers, handlers
    from demos.models import DemoModel

    torch.set_num_threads(len(os.sched_getaffinity(0)))  # as `sgt demo` does
    model = DemoModel(network)
    try:
        model.get()
        for v in values(3, offset=10_000):  # warm: the latent read and the before render are cached
            edit_handlers.edit(model, None, latent, {EDIT: v})
        handler, encode = [], []
        for v in values(n, offset=20_000):
            t0 = time.perf_counter()
            r = edit_handlers.edit(model, None, latent, {EDIT: v})
            t1 = time.perf_counter()
            handlers.png_file(r.after, model.root / "png")
            handler.append(t1 - t0)
            encode.append(time.perf_counter() - t1)
        return handler, encode
    finally:
        model.close()


def invert_by_thread(network: str, photo: Path, reps: int) -> dict[str, float]:
    """Median seconds of the Invert handler run three ways in this process, side by side: on the main
    thread, on a worker thread (where Gradio runs handlers), and from a worker thread through
    `MainThreadRunner` (what `sgt demo` does; see `demos.mainthread` for why)."""
    import statistics
    import threading

    import torch

    from demos import handlers
    from demos.mainthread import MainThreadRunner
    from demos.models import DemoModel

    torch.set_num_threads(len(os.sched_getaffinity(0)))  # as `sgt demo` does
    model = DemoModel(network)
    runner = MainThreadRunner()

    def once() -> float:
        t0 = time.perf_counter()
        handlers.invert(model, None, photo, True)
        return time.perf_counter() - t0

    def in_worker(fn, serve: bool = False) -> list[float]:
        out: list[float] = []
        t = threading.Thread(target=lambda: out.extend(fn() for _ in range(reps)))
        t.start()
        if serve:  # this (main) thread runs what the worker submits
            runner.serve(until=lambda: not t.is_alive(), poll_s=0.01)
        t.join()
        return out
    try:
        model.get()
        once()  # warm-up: model, dlib, first-call allocations
        res = {"main thread": statistics.median(once() for _ in range(reps)),
               "worker thread": statistics.median(in_worker(once))}
        runner.accept()
        res["worker via MainThreadRunner"] = statistics.median(in_worker(lambda: runner.call(once), serve=True))
        return res
    finally:
        model.close()


def rss_mb(pid: int) -> float | None:
    """Resident memory of process `pid` in MB (VmRSS from /proc; None where there is no /proc)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def raw_generate(http: httpx.Client, url: str, network: str, seed: int) -> tuple[int, float | None]:
    """`POST /gradio_api/call/generate` and wait for its answer: (HTTP status of the post, seconds or None)."""
    t0 = time.perf_counter()
    r = http.post(url + "gradio_api/call/generate", json={"data": [network, seed, 0.7, "const", None, 0, 0, None]})
    if r.status_code != 200:
        return r.status_code, None
    return 200, _wait(http, url, "generate", r.json()["event_id"], t0)


def _wait(http: httpx.Client, url: str, api: str, event_id: str, t0: float) -> float:
    event = None
    with http.stream("GET", f"{url}gradio_api/call/{api}/{event_id}") as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                break
    if event != "complete":
        raise RuntimeError(f"/{api} failed: {event}")
    return time.perf_counter() - t0


def load(url: str, network: str, photo: Path, pid: int | None, inverts: int = LOAD_INVERTS,
         light: int = LOAD_LIGHT) -> dict:
    """The figures under load (see the module docstring); `pid`: the server's process, for its memory."""
    from gradio_client import Client, handle_file
    from gradio_client.utils import QueueError

    from demos.app import QUEUE_SIZE

    url = url.rstrip("/") + "/"
    res: dict[str, object] = {}

    def one_invert(_: int) -> float | None:
        client = Client(url, verbose=False)  # one user each: their own session
        t0 = time.perf_counter()
        try:
            client.predict(network, handle_file(str(photo)), True, api_name="/invert")
        except QueueError:
            return None
        return time.perf_counter() - t0

    t0 = time.perf_counter()
    with ThreadPoolExecutor(inverts) as pool:
        times = list(pool.map(one_invert, range(inverts)))
    done = [t for t in times if t is not None]
    res[f"invert_{inverts}_concurrent"] = {
        "p50_s": round(float(np.percentile(done, 50)), 2) if done else None,
        "p90_s": round(float(np.percentile(done, 90)), 2) if done else None,
        "max_s": round(max(done), 2) if done else None, "refused": len(times) - len(done),
        "wall_s": round(time.perf_counter() - t0, 1)}

    http = httpx.Client(timeout=600, limits=httpx.Limits(max_connections=BURST_EXTRA + QUEUE_SIZE))
    burst = QUEUE_SIZE + BURST_EXTRA
    t0 = time.perf_counter()
    with ThreadPoolExecutor(burst) as pool:  # all at once: the queue fills faster than one torch slot drains it
        posts = list(pool.map(lambda seed: http.post(url + "gradio_api/call/generate", json={
            "data": [network, seed, 0.7, "const", None, 0, 0, None]}), range(burst)))
    posted = time.perf_counter() - t0
    refused = [r for r in posts if r.status_code == 503]
    waits = [_wait(http, url, "generate", r.json()["event_id"], t0) for r in posts if r.status_code == 200]
    res["burst_generate"] = {"posted": burst, "queue_size": QUEUE_SIZE, "refused_503": len(refused),
                             "refusal_detail": refused[0].json().get("detail") if refused else None,
                             "post_s": round(posted, 3), "slowest_accepted_s": round(max(waits), 2) if waits else None}

    rss = {"before": rss_mb(pid) if pid else None}
    for i in range(1, light + 1):
        status, _ = raw_generate(http, url, network, i % 5)
        if status != 200:
            raise RuntimeError(f"/generate refused (HTTP {status}) with no load")
        if i in (50, light):
            rss[f"after_{i}"] = rss_mb(pid) if pid else None
    res["rss_mb"] = {k: (round(v, 1) if v is not None else None) for k, v in rss.items()}
    return res


def print_load(res: dict, inverts: int) -> None:
    inv, burst, rss = res[f"invert_{inverts}_concurrent"], res["burst_generate"], res["rss_mb"]
    print(f"under load: {inverts} concurrent /invert: p50 {inv['p50_s']} s, p90 {inv['p90_s']} s, "
          f"max {inv['max_s']} s, refused {inv['refused']} (all answered in {inv['wall_s']} s)")
    print(f"  burst of {burst['posted']} /generate (queue {burst['queue_size']}): {burst['refused_503']} refused "
          f"with HTTP 503 in {burst['post_s']} s ({burst['refusal_detail']!r}); "
          f"slowest accepted {burst['slowest_accepted_s']} s")
    print(f"  server RSS, MB: {rss}")


def latency(url: str, network: str, calls: int, clients: int, inverts: int, tmp: Path, photo: Path,
            res: dict) -> Path:
    """The round-trip figures (module docstring) into `res`; returns a latent file the server made."""
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False, download_files=str(tmp))
    times = []
    for seed in range(12):  # the first two are warm-up
        t0 = time.perf_counter()
        _, latent, _ = client.predict(network, seed, 0.7, "const", None, 0, 0, None, api_name="/generate")
        times.append(time.perf_counter() - t0)
    res["generate_ms"] = pct(times[2:])
    latent = Path(latent)

    raw = RawEdit(url, network, latent)
    for v in values(5, offset=30_000):
        raw(v)  # warm: the server reads the latent and renders "before" once
    res["edit_browser_1_ms"] = pct([raw(v) for v in values(calls)])

    per = max(calls // clients, 5)

    def worker(k: int) -> list[float]:
        c = RawEdit(url, network, latent)
        return [c(v) for v in values(per, offset=1000 * (k + 1))]
    with ThreadPoolExecutor(clients) as pool:
        res[f"edit_browser_{clients}_ms"] = pct([t for ts in pool.map(worker, range(clients)) for t in ts])

    times = []
    for v in values(calls // 2, offset=5000):
        t0 = time.perf_counter()
        client.predict(network, handle_file(str(latent)), json.dumps({EDIT: v}), None, api_name="/edit")
        times.append(time.perf_counter() - t0)
    res["edit_client_1_ms"] = pct(times)

    times = []
    for _ in range(inverts):
        t0 = time.perf_counter()
        client.predict(network, handle_file(str(photo)), True, api_name="/invert")
        times.append(time.perf_counter() - t0)
    res["invert_s"] = [round(t, 2) for t in times]

    _, latent2, _ = client.predict(network, 777, 0.7, "const", None, 0, 0, None, api_name="/generate")
    times = []
    for _ in range(12):  # the first two are warm-up
        t0 = time.perf_counter()
        client.predict(network, handle_file(str(latent)), handle_file(str(latent2)), "lcr", False, api_name="/swap")
        times.append(time.perf_counter() - t0)
    res["swap_latents_ms"] = pct(times[2:])
    times = []
    for _ in range(inverts):  # both sides aligned and inverted (the same photo twice: allowed)
        t0 = time.perf_counter()
        client.predict(network, handle_file(str(photo)), handle_file(str(photo)), "lcr", True, api_name="/swap")
        times.append(time.perf_counter() - t0)
    res["swap_photos_s"] = [round(t, 2) for t in times]
    return latent


@click.command(context_settings={"show_default": True})
@click.option("--network", default=DEFAULT_GENERATOR, help="Network the demo serves (a registered name or a path).")
@click.option("--url", default=None, help="Measure this running demo instead of starting one.")
@click.option("--calls", default=60, type=click.IntRange(5), help="Edit calls per measurement.")
@click.option("--clients", default=4, type=click.IntRange(2), help="Concurrent clients in the second measurement.")
@click.option("--inverts", default=2, type=click.IntRange(0), help="Invert round trips (the real projection).")
@click.option("--load/--no-load", "with_load", default=True,
              help="Also measure under load: 20 concurrent inverts, a burst past the queue, RSS over 200 calls.")
@click.option("--only-load", is_flag=True, help="Measure only under load.")
@click.option("--pid", type=int, default=None, help="With --url: the server's process id, for its RSS.")
@click.option("--json-out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the numbers here (JSON).")
def main(network: str, url: str | None, calls: int, clients: int, inverts: int, with_load: bool, only_load: bool,
         pid: int | None, json_out: Path | None) -> None:
    from PIL import Image
    from skimage import data

    print(f"cpu: {cpu_description()}; python {platform.python_version()}", flush=True)
    server = None if url else Server(network)
    url = url or server.url
    tmp = Path(tempfile.mkdtemp(prefix="bench_demo_"))
    res: dict[str, object] = {"cpu": cpu_description(), "network": network, "calls": calls, "clients": clients}
    photo = tmp / "astronaut.png"
    Image.fromarray(np.asarray(data.astronaut())).save(photo)
    try:
        if not only_load:
            latent = latency(url, network, calls, clients, inverts, tmp, photo, res)
        if with_load or only_load:
            res["load"] = load(url, network, photo, server.proc.pid if server is not None else pid)
    finally:
        if server is not None:
            server.close()
    if "load" in res:
        print_load(res["load"], LOAD_INVERTS)
    if only_load:
        _write(json_out, res)
        return
    handler, encode = in_process(network, latent, calls)
    res["edit_handler_ms"], res["edit_encode_ms"] = pct(handler), pct(encode)
    if inverts:
        res["invert_handler_s"] = {k: round(v, 2) for k, v in invert_by_thread(network, photo, inverts).items()}

    print(f"network {network}, {calls} edit calls per line, a new '{EDIT}' value each call; p50 / p90 in ms")
    rows = [("edit, browser-like, 1 client", res["edit_browser_1_ms"]),
            (f"edit, browser-like, {clients} clients", res[f"edit_browser_{clients}_ms"]),
            ("edit, gradio_client.predict (upload + all downloads)", res["edit_client_1_ms"]),
            ("edit handler, in process", res["edit_handler_ms"]),
            ("PNG encode of the result, in process", res["edit_encode_ms"]),
            ("generate, gradio_client.predict", res["generate_ms"]),
            ("swap (lcr) of two latents, gradio_client.predict", res["swap_latents_ms"])]
    for name, (p50, p90) in rows:
        print(f"  {name:55s} {p50:7.1f} / {p90:7.1f}")
    print(f"  {'invert (real settings), gradio_client.predict, s':55s} {res['invert_s']}")
    print(f"  {'swap (lcr) of two photos incl. 2 inversions, s':55s} {res['swap_photos_s']}")
    for where, sec in res.get("invert_handler_s", {}).items():
        print(f"  {'invert handler in process, ' + where + ', s':55s} {sec}")
    ok50 = res["edit_browser_1_ms"][0] <= TARGET_P50_MS
    ok90 = res[f"edit_browser_{clients}_ms"][1] <= TARGET_P90_4_MS
    print(f"targets: edit p50 <= {TARGET_P50_MS:.0f} ms: {'met' if ok50 else 'MISSED'}; "
          f"p90 with {clients} clients <= {TARGET_P90_4_MS:.0f} ms: {'met' if ok90 else 'MISSED'}")
    _write(json_out, res)


def _write(json_out: Path | None, res: dict) -> None:
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
