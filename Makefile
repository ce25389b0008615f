# Two entry points: `make demo` and `make test`. Both set up .venv on first use.
VENV := .venv
STAMP := $(VENV)/.installed
export PYOPENGL_PLATFORM ?= egl

.PHONY: demo test test-slow setup clean

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/sgt generate --network synthheads --seeds 0-7 --trunc 0.7 --outdir out/demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

test-slow: $(STAMP)
	$(VENV)/bin/python -m pytest -q -m slow

clean:
	rm -rf out .pytest_cache
