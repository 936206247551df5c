# Two commands do all the set-up on a fresh machine:
#   make demo   create .venv, install, run every quick reproduction and write the report
#   make test   create .venv, install, run the test suite
PYTHON ?= python3
VENV ?= .venv
# torch goes in first and pinned: with no torch installed, pip resolving a bare
# `torch` requirement pulls a multi-GB CUDA build on a CPU-only machine.
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.landscape-installed

.PHONY: install demo test test-all lint format bench docs clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev,plot,docs]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/landscape reproduce-all

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m ""

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples

format: $(STAMP)
	$(BIN)/ruff format src tests bench examples
	$(BIN)/ruff check --fix src tests bench examples

bench: $(STAMP)
	# the peers measured: PyHessian (hessian_bench.py), loss-landscapes (surface_bench.py)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps pyhessian loss-landscapes==3.0.6
	@echo "== machine: $$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | xargs), $$(nproc) cores"
	@$(BIN)/python -c "import sys; sys.path.insert(0, 'bench'); from _common import machine, matmul_rates; print('==', machine(), 'float32 matmul', ', '.join(f'{k} {v:.0f} GFLOP/s' for k, v in matmul_rates().items()))"
	for f in bench/*_bench.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -d site

clean:
	rm -rf $(VENV) build site *.egg-info src/*.egg-info .pytest_cache .ruff_cache
