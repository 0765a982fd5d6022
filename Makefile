# an2dl — set-up and everyday commands. Every target works from a fresh clone and is idempotent.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check
# pytest arguments; `make test PYTEST_ARGS="-k resume"` narrows the run.
PYTEST_ARGS ?= -n 2 --dist worksteal --durations=20

.PHONY: demo test bench install install-dev lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The stamp files make re-runs cheap: pip runs again only when the project files change.
$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) install -c constraints.txt -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml constraints.txt
	$(PIP) install -c constraints.txt -e ".[dev,onnx,tensorboard]"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed
	$(BIN)/an2dl run lenet5-digits

test: $(VENV)/.installed-dev
	@sh scripts/ensure-browser.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.installed
	$(BIN)/an2dl bench

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests

clean:
	rm -rf $(VENV) runs .pytest_cache
