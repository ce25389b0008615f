"""OpenGL in its own process: :func:`synthetic.render` sends its work to one persistent helper
process, so OpenGL never loads into a process that runs torch.

Why. Mesa's software GL (llvmpipe, behind EGL and OSMesa) links ``libLLVM-15.so`` and the GL
driver is opened with global symbols. A native library that carries its own LLVM and is loaded
later in the same process binds part of its static initialisers to Mesa's LLVM and crashes.
torch does exactly that: the first ``torch.optim.Adam(...)`` imports ``torch._dynamo``, which loads
triton's ``libtriton.so`` -> SIGSEGV in ``llvm::DebugCounter`` (``_GLOBAL__sub_I_PassBuilder.cpp``,
seen in gdb). Loading triton first works, but only for triton: any other library that carries its own LLVM
(numba's llvmlite, a future torch) is exposed the same way, and callers would have to know import order.
Keeping OpenGL in a process that imports neither torch nor the caller's code removes the class
of problem.

Measured on a 2-core CPU (Mesa llvmpipe, 128 px renders, the median over 120 renders, the two
modes alternating in blocks of 40 in one process; ``SYNTHETIC_RENDER_IN_PROCESS`` switches them):

==================================  ============  ====================================
                                    in process    worker process (this module)
==================================  ============  ====================================
first render (cold)                 0.30 s        0.93 s (interpreter, trimesh, EGL)
each further render                 39.8 ms       41.3 ms (3 runs: -0.5 to +1.6 ms; ~65 kB pickled)
render -> Adam                      SIGSEGV       ok
render -> inversion.project -> Adam SIGSEGV       ok
20 x (render -> Adam)               SIGSEGV       ok
Adam -> render -> Adam              ok            ok
renders from 4 threads; fork        -             ok (one lock; a forked child starts its own)
==================================  ============  ====================================

Preloading triton before the GL context (the other candidate) passed the same sequences for a
0.18 s import, but only protects against triton, and only where it is installed. Images are
identical either way: the worker runs the same code in the same environment (checked by hashing
12 renders with ``LP_NUM_THREADS=1``; with several llvmpipe threads a few pixels of an image may
differ between any two processes, in place or not).

Processes that only render (``synthetic.batch`` pool workers, this worker itself) render in place:
they set ``SYNTHETIC_RENDER_IN_PROCESS=1``, which a user may also set for a pure rendering script.
"""
from __future__ import annotations

import atexit
import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

IN_PROCESS_ENV = "SYNTHETIC_RENDER_IN_PROCESS"
_PROTOCOL = pickle.HIGHEST_PROTOCOL


def render_in_process() -> bool:
    """True where OpenGL may load into this process (render workers, or opted in by the user)."""
    return os.environ.get(IN_PROCESS_ENV) == "1"


class _Worker:
    """Client end of one worker process: pickled ``(function name, args)`` in, ``(ok, value)`` out."""

    def __init__(self) -> None:
        env = dict(os.environ, **{IN_PROCESS_ENV: "1"})
        env.setdefault("PYOPENGL_PLATFORM", "egl")
        # The worker must run this very copy of `synthetic`, not one found first in its working
        # directory or on its path: put the folder holding it in front of everything.
        root = str(Path(__file__).resolve().parent.parent)
        code = "import sys; sys.path.insert(0, sys.argv[1]); from synthetic.render_worker import serve; serve()"
        self.pid = os.getpid()
        self.lock = threading.Lock()
        # its own session: Ctrl-C in a terminal interrupts the caller only; the worker ends on EOF
        self.proc = subprocess.Popen([sys.executable, "-c", code, root], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env, start_new_session=True)

    def call(self, name: str, *args: Any) -> Any:
        request = pickle.dumps((name, args), protocol=_PROTOCOL)  # fails here, before the stream is touched
        with self.lock:
            try:
                self.proc.stdin.write(request)
                self.proc.stdin.flush()
                ok, value = pickle.load(self.proc.stdout)
            except (EOFError, OSError, pickle.UnpicklingError) as exc:
                from .renderer import RendererUnavailable

                code = self.proc.wait()
                raise RendererUnavailable(f"the render worker process stopped (exit code {code}); "
                                          "its error is printed above") from exc
            except BaseException:  # e.g. Ctrl-C mid-exchange: a late reply must not answer the next request
                self.proc.kill()
                self.proc.wait()
                raise
        if not ok:
            raise value
        return value

    def close(self) -> None:
        if self.pid != os.getpid() or self.proc.poll() is not None:
            return  # a forked child must not stop its parent's worker
        try:
            self.proc.stdin.close()  # EOF: the worker returns from its loop
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


_worker: _Worker | None = None
_start_lock = threading.Lock()


def call(name: str, *args: Any) -> Any:
    """Run ``synthetic.renderer.<name>(*args)`` in the worker process, started on first use.

    A worker that died (or belongs to the parent of a fork) is replaced on the next call.
    """
    global _worker
    with _start_lock:
        w = _worker
        if w is None or w.pid != os.getpid() or w.proc.poll() is not None:
            w = _worker = _Worker()
            atexit.register(w.close)
    return w.call(name, *args)


def serve() -> None:
    """The worker's loop: answer requests on stdin until EOF (started by :class:`_Worker`)."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints of GL libraries go to stderr, never into the reply stream
    sys.stdout = sys.stderr
    inp = sys.stdin.buffer
    from . import renderer

    while True:
        try:
            name, args = pickle.load(inp)
        except EOFError:
            return
        try:
            reply: tuple[bool, Any] = (True, getattr(renderer, name)(*args))
        except Exception as exc:  # sent back and raised in the caller
            reply = (False, exc)
        try:
            data = pickle.dumps(reply, protocol=_PROTOCOL)
        except Exception as exc:  # an exception that does not pickle
            data = pickle.dumps((False, RuntimeError(f"{type(reply[1]).__name__}: {reply[1]} ({exc})")))
        out.write(data)
        out.flush()
