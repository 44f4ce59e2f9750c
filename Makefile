# Two commands on a fresh machine with Python 3.11 and make: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export AIRFLOW_HOME := $(CURDIR)
export GX_ANALYTICS_ENABLED := False

.PHONY: demo test bench install clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/gdx demo

test: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/pytest

bench: $(BIN)/.installed
	$(BIN)/python bench/demo_data.py
	$(BIN)/python bench/validation.py

clean:
	rm -rf var logs .pytest_cache
