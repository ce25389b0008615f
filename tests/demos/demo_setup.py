"""The demo tests' fixtures (import them into a test module): a `DemoModel` on the shipped default
network, the example photos, and the app served in this process on a free port.

Not a conftest.py: a second conftest outside a package would replace `conftest` in sys.modules and
break the `from conftest import SMALL` of the other test folders."""
import contextlib
import os
import socket
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio / gradio_client are imported
INVERT_STEPS = 20  # a few projection steps keep the served /invert at about a second
from sgtcore.registry import DEFAULT_GENERATOR as NET  # noqa: E402  (the network the demo opens on)


@pytest.fixture(scope="module")
def model():
    from demos.models import DemoModel

    m = DemoModel(NET)
    m.get()
    yield m
    m.close()


@pytest.fixture(scope="module")
def examples(model):
    from demos.examples import write_examples

    return write_examples(model.output_dir())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(model, examples, invert_steps: int | None = INVERT_STEPS) -> Iterator[SimpleNamespace]:
    """The app served on http://127.0.0.1:<free port> while inside; `.url`, `.app`."""
    from demos.app import build, launch

    app = build(model, examples, invert_steps=invert_steps)
    url = launch(app, port=free_port(), allowed=[model.root])
    try:
        yield SimpleNamespace(url=url, app=app)
    finally:
        app.close()


@pytest.fixture(scope="module")
def server(model, examples):
    with serving(model, examples) as s:
        yield s
