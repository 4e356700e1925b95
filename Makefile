# Developers' entry points. `make run` and `make test` create .venv from nothing; later calls
# re-install only when pyproject.toml or constraints.txt changed.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP_FLAGS := --disable-pip-version-check -q -c constraints.txt


.PHONY: run test bench lint clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) -e '.[dev,pretrained]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/matlab-gui

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -n 2 --dist loadfile -q

BENCHMARKS := io gui_paint train_overhead tiled_inference batch_classify

bench: $(STAMP)
	@for b in $(BENCHMARKS); do echo "== $$b"; QT_QPA_PLATFORM=offscreen $(BIN)/python benchmarks/$$b.py || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check matlab_gui tests benchmarks

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
