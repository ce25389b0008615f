"""Run the demo's torch work on the process's main thread.

Why: Gradio runs handlers in worker threads (anyio's pool), and torch's CPU kernels run much slower there.
Measured on the 2-core dev VM (AMD EPYC, torch 2.14, OpenMP backend, two intra-op threads): the default
projection ran 24 steps/s on the main thread and 11-14 steps/s from any other thread; torch.profiler put
the loss on the OpenMP-parallel convolutions (mkldnn_convolution 158 -> 313 us per call). The demo's
Invert handler took 4.3 s inside the server and 2.2 s in a script. So `sgt demo` keeps its main thread
for torch: handlers hand their work to `MainThreadRunner.call`, which queues it for the main thread (the
queue is one slot wide anyway, see `demos.app.TORCH`) and waits for the result.

Context variables travel with each job (`contextvars.copy_context`), so Gradio's progress tracking
(`gr.Progress(track_tqdm=True)`, which finds its request through one) keeps working.
"""
from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


class ShuttingDown(RuntimeError):
    """A job was still waiting when the main thread stopped serving."""


class MainThreadRunner:
    """Callables submitted from any thread, run one at a time on the main thread while `serve` runs there.

    Until `accept` or `serve` is called (and after `serve` returns) `call` runs its callable inline, on
    the caller's thread, so the same code works in tests and scripts that never serve.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()  # `serving` and the queue change together: no job is left unserved
        self._serving = False

    @property
    def serving(self) -> bool:
        return self._serving

    def accept(self) -> None:
        """Queue calls from now on (for `serve`, about to start on the main thread) instead of running them
        inline: call it before the server that submits them starts."""
        with self._lock:
            self._serving = True

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` on the main thread (inline when not serving, or when called from it).

        Raises whatever `fn` raises; `ShuttingDown` if serving stopped before the job ran.
        """
        future: Future = Future()
        with self._lock:
            queued = self._serving and threading.current_thread() is not threading.main_thread()
            if queued:
                self._jobs.put((future, contextvars.copy_context(), fn, args, kwargs))
        return future.result() if queued else fn(*args, **kwargs)

    def serve(self, until: Callable[[], bool] | None = None, poll_s: float = 0.2) -> None:
        """Run submitted jobs here until `until()` is true, or until interrupted (KeyboardInterrupt,
        SystemExit: re-raised after the waiting jobs are answered with `ShuttingDown`).

        Must be called on the main thread.
        """
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("MainThreadRunner.serve must run on the main thread")
        self.accept()
        try:
            while until is None or not until():
                try:
                    future, ctx, fn, args, kwargs = self._jobs.get(timeout=poll_s)
                except queue.Empty:
                    continue
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    future.set_result(ctx.run(fn, *args, **kwargs))
                except BaseException as exc:  # the caller gets it; an interrupt also ends serving
                    future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
        finally:
            with self._lock:
                self._serving = False
                while True:
                    try:
                        future = self._jobs.get_nowait()[0]
                    except queue.Empty:
                        break
                    if future.set_running_or_notify_cancel():
                        future.set_exception(ShuttingDown("the demo is shutting down; the request was not run"))


__all__ = ["MainThreadRunner", "ShuttingDown"]
