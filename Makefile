# Two entry points: `make demo` and `make test`. Both set up .venv on first use.
VENV := .venv
STAMP := $(VENV)/.installed
export PYOPENGL_PLATFORM ?= egl

.PHONY: demo test test-slow setup clean

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh

setup: $(STAMP)

demo: $(STAMP)  ## the Gradio demo on the default model; prints its URL (http://127.0.0.1:7860)
	$(VENV)/bin/sgt demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

test-slow: $(STAMP)
	$(VENV)/bin/python -m pytest -q -m slow

clean:
	rm -rf out .pytest_cache
