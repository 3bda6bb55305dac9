# Quick start:  make demo  (runs the demo)   make test  (runs every check)
# Both create a local virtual environment in .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LINT_PATHS := src tests $(wildcard benchmarks examples scripts docs)

.PHONY: demo test test-core lint docs bench bench-auto bench-fft bench-fft-error bench-signals bench-inverse bench-deblur-exactness bench-deblur-weights bench-speed bench-layer-methods bench-dask calibrate mutation clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/convmat demo

test: $(STAMP) lint
	$(BIN)/python -m pytest

# the core tests with numpy, scipy, pytest and hypothesis alone (no extra installed): what
# needs dask, matplotlib or torch skips and says so
CORE := .venv-core
test-core:
	$(PYTHON) -m venv $(CORE)
	$(CORE)/bin/python -m pip install --quiet --upgrade pip
	$(CORE)/bin/python -m pip install --quiet numpy scipy "pytest>=8" "hypothesis>=6.100"
	$(CORE)/bin/python -m pip install --quiet --no-deps -e .
	$(CORE)/bin/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy

# the documentation site (API reference, user guide, gallery run at build time) into
# docs/_build/html; offline, every warning an error
docs: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

# torch (CPU build, 2.13.0) is optional: the benchmarks compare against it when present
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet torch==2.13.0 || echo "torch not installed: benchmarking without it"
	$(BIN)/python benchmarks/run.py

# CNN layers against torch, small one-shot calls and batched operators (a section of
# benchmarks/RESULTS.md; make bench runs it too); torch is required here
bench-speed: $(STAMP)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python benchmarks/speed.py

# every method of convmat.nn on the speed section's layers, against the cost model's units:
# the factors the layer cost model's constants are set from (printed, and layer_methods.json)
bench-layer-methods: $(STAMP)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python benchmarks/layer_methods.py

# the accuracy dial where scipy takes the FFT: defaults and rtol=0 against scipy (a section
# of benchmarks/RESULTS.md)
# (three runs of the grid, the machine being noisy: the table from the last, the spread of all)
bench-fft: $(STAMP)
	d=$$(mktemp -d) && for i in 1 2 3; do \
	  $(BIN)/python benchmarks/fft_regime.py --out $$d/$$i || exit 1; done && \
	$(BIN)/python benchmarks/fft_regime.py --report $$d/1/fft_regime.json \
	  $$d/2/fft_regime.json $$d/3/fft_regime.json

# the cost model's constants fitted on this machine, beside those in convmat._engines.cost
calibrate: $(STAMP)
	$(BIN)/python benchmarks/calibrate.py

# what method="auto" takes against the fastest peer, three runs (a section of benchmarks/RESULTS.md)
bench-auto: $(STAMP)
	$(BIN)/python benchmarks/auto_targets.py

# the FFT's rounding against the bound 'auto' certifies with (a section of benchmarks/RESULTS.md)
bench-fft-error: $(STAMP)
	$(BIN)/python benchmarks/fft_error.py

# long signals and volumes against scipy (a section of benchmarks/RESULTS.md)
bench-signals: $(STAMP)
	$(BIN)/python benchmarks/signals.py

# deblurring against scikit-image and spectral norms against svds (a section of benchmarks/RESULTS.md)
bench-inverse: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/inverse.py

bench-deblur-exactness: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/deblur_exactness.py

bench-deblur-weights: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/deblur_weights.py

# an image larger than each worker's memory through convmat.dask on a LocalCluster, and a
# batch through ConvOperator, against scipy.ndimage in one process (a section of RESULTS.md)
bench-dask: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/dask_scale.py

# mutation testing of the core modules (slow, not in CI): SAMPLE=1 runs every mutant
SAMPLE ?= 0.17
mutation: $(STAMP)
	$(BIN)/python -m pip install --quiet "mutmut==3.8.1"
	$(BIN)/python scripts/mutation.py --sample $(SAMPLE)

clean:
	rm -rf $(VENV) $(CORE) .pytest_cache .mypy_cache .ruff_cache .hypothesis mutants docs/_build docs/generated docs/auto_examples
