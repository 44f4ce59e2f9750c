# Two commands on a fresh machine with Python 3.11 and make: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export GX_ANALYTICS_ENABLED := False

.PHONY: demo test bench install browser clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/gdx demo

# the portal's browser tests drive Debian's Chromium (Playwright cannot download browsers here),
# with a font that has Chinese; installed once, as root (CI) or through sudo
BROWSER_PACKAGES := chromium fonts-wqy-microhei
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo -n)
browser:
	@if command -v chromium >/dev/null && dpkg -s fonts-wqy-microhei >/dev/null 2>&1; then :; \
	else $(SUDO) apt-get install -y --no-install-recommends $(BROWSER_PACKAGES) \
	  || ($(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends $(BROWSER_PACKAGES)); fi

test: $(BIN)/.installed browser
	$(BIN)/ruff check .
	$(BIN)/pytest

# the benchmarks' peers (dlt, py-spy) live in the bench extra, installed only for `make bench`;
# bench/run.py writes bench/RESULTS.md (BENCH_ARGS=--scale adds 5,000,000 people and a 10,000,000-
# person API library: 30 min in all here; without it 15.5 min from a fresh clone, installation
# included)
$(BIN)/.bench-installed: $(BIN)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@

bench: $(BIN)/.bench-installed
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf var logs .pytest_cache
