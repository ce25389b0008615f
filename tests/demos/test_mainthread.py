"""`demos.mainthread.MainThreadRunner`: jobs from other threads run on the main thread, results and
errors come back, context variables travel, nothing hangs at shutdown; and the served app's torch
handlers really run there."""
import contextvars
import threading
import time

import pytest

from demos.mainthread import MainThreadRunner, ShuttingDown

from demo_setup import NET, examples, free_port, model  # noqa: F401  (fixtures)

REQUEST = contextvars.ContextVar("REQUEST", default=None)


def _in_thread(target) -> threading.Thread:
    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t


def test_jobs_run_on_the_main_thread_with_results_errors_and_context():
    runner = MainThreadRunner()
    seen = {}

    def job(x):
        seen.setdefault("threads", []).append(threading.current_thread())
        seen.setdefault("request", []).append(REQUEST.get())
        if x < 0:
            raise ValueError("negative")
        return 2 * x

    def client():
        REQUEST.set("req-1")  # as Gradio sets its progress tracker for the request it runs
        seen["result"] = runner.call(job, 21)
        with pytest.raises(ValueError, match="negative"):
            runner.call(job, -1)
        seen["done"] = True

    runner.accept()  # from here calls wait for `serve`
    t = _in_thread(client)
    time.sleep(0.05)
    runner.serve(until=lambda: not t.is_alive(), poll_s=0.01)
    assert seen["done"] and seen["result"] == 42
    assert seen["threads"] == [threading.main_thread()] * 2
    assert seen["request"] == ["req-1"] * 2
    assert not runner.serving


def test_not_serving_runs_inline_on_the_callers_thread():
    runner = MainThreadRunner()
    out = {}
    t = _in_thread(lambda: out.update(thread=runner.call(threading.current_thread)))
    t.join(10)
    assert out["thread"] is t  # nobody serves: no queue, no wait
    assert runner.call(threading.current_thread) is threading.main_thread()


def test_serve_refuses_other_threads():
    out = {}

    def other():
        try:
            MainThreadRunner().serve(until=lambda: True)
        except RuntimeError as exc:
            out["error"] = str(exc)
    _in_thread(other).join(10)
    assert "main thread" in out["error"]


def test_waiting_jobs_are_answered_when_serving_stops():
    runner = MainThreadRunner()
    started, out = threading.Event(), {}

    def interrupted_job():
        started.set()
        deadline = time.monotonic() + 10
        while runner._jobs.empty() and time.monotonic() < deadline:  # until the second job waits behind it
            time.sleep(0.01)
        raise KeyboardInterrupt  # Ctrl-C while a job runs: it fails, and serving ends

    def first():
        try:
            runner.call(interrupted_job)
        except KeyboardInterrupt:
            out["first"] = "interrupted"

    def second():
        started.wait(10)
        try:
            out["second"] = runner.call(lambda: "ran")
        except ShuttingDown:
            out["second"] = "shutting down"

    runner.accept()
    t1, t2 = _in_thread(first), _in_thread(second)
    with pytest.raises(KeyboardInterrupt):
        runner.serve(poll_s=0.01)
    t1.join(10)
    t2.join(10)
    assert out == {"first": "interrupted", "second": "shutting down"}  # answered, not left hanging
    assert runner.call(lambda: "inline") == "inline"  # and afterwards calls run inline again


def test_served_app_runs_torch_handlers_on_the_main_thread(model, examples, monkeypatch):  # noqa: F811
    from gradio_client import Client

    from demos import app as demo_app
    from demos import handlers

    threads = []
    real = handlers.generate

    def spy(*args, **kwargs):
        threads.append(threading.current_thread())
        return real(*args, **kwargs)
    monkeypatch.setattr(handlers, "generate", spy)

    runner = MainThreadRunner()
    runner.accept()
    app = demo_app.build(model, examples, run=runner.call)
    threads.clear()  # the first paint's generate ran here while building
    url = demo_app.launch(app, port=free_port(), allowed=[model.root])
    out = {}

    def client():
        try:
            c = Client(url, verbose=False)
            out["result"] = c.predict(NET, 5, 0.7, "const", None, 0, 0, None, api_name="/generate")
        except Exception as exc:  # reported below, not lost in the thread
            out["error"] = exc

    try:
        t = _in_thread(client)
        deadline = time.monotonic() + 120
        runner.serve(until=lambda: not t.is_alive() or time.monotonic() > deadline, poll_s=0.02)
    finally:
        app.close()
    assert "error" not in out, out.get("error")
    assert out["result"][2].startswith("seed 5")
    assert threads == [threading.main_thread()]
