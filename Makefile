# Developers' entry points. `make run` and `make test` create .venv from nothing; later calls
# re-install only when pyproject.toml or constraints.txt changed.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP_FLAGS := --disable-pip-version-check -q -c constraints.txt


.PHONY: run test bench papers lint clean venv installer installer-test

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

# The five paper reproductions in their CPU-sized default mode (each < 20 min on 2 cores; needs
# ../shared/data); results, figures and summaries in benchmarks/papers/out/, see benchmarks/RESULTS.md.
PAPERS := p000_sepconv_head p001_classifiers p002_micro_ktnet p003_hptl p004_effnetv2_transfer

papers: $(STAMP)
	@for p in $(PAPERS); do echo "== $$p"; $(BIN)/python benchmarks/papers/$$p.py || exit 1; done
	$(BIN)/python benchmarks/papers/collect_results.py

# Release: a one-folder PyInstaller bundle in dist/matlab-gui/ (with .desktop entry and icon) plus
# a wheel and sdist in dist/; installer-test runs them as a user would (see installer/).
RELEASE_STAMP := $(VENV)/.release-installed

$(RELEASE_STAMP): $(STAMP)
	$(BIN)/python -m pip install $(PIP_FLAGS) -e '.[dev,pretrained,release]'
	@touch $(RELEASE_STAMP)

installer: $(RELEASE_STAMP)
	rm -rf dist/matlab-gui build/pyinstaller
	$(BIN)/pyinstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller installer/matlab_gui.spec
	cp resources/icons/matlab-gui.png installer/install-desktop-entry.sh installer/matlab-gui.desktop.in dist/matlab-gui/
	$(BIN)/python -m build --outdir dist .
	@du -sh dist/matlab-gui dist/*.whl dist/*.tar.gz

installer-test: $(RELEASE_STAMP)
	$(BIN)/python installer/smoke_test.py bundle dist/matlab-gui
	$(BIN)/python installer/smoke_test.py wheel $$(ls -t dist/matlab_gui-*.whl | head -1)

lint: $(STAMP)
	$(BIN)/ruff check matlab_gui tests benchmarks

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
