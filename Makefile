# Two entry points for a fresh machine: `make run` and `make test`.
# Both create .venv on first use; the stamp files re-run pip when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CATALOGUE_ARG := $(if $(CATALOGUE),--catalogue $(CATALOGUE),)

.PHONY: run test benchmarks clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	$(BIN)/whalecat $(CATALOGUE_ARG)

test: $(VENV)/.installed-test
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest $(PYTEST_ARGS)

benchmarks: $(VENV)/.installed-test
	$(BIN)/python benchmarks/bench_import.py --identify-all
	$(BIN)/python benchmarks/bench_search.py
	$(BIN)/python benchmarks/bench_gallery.py
	$(BIN)/python benchmarks/bench_confirm.py
	$(BIN)/python benchmarks/bench_gui_training.py --epochs 2

clean:
	rm -rf $(VENV) build *.egg-info
