# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
DEMO_OUT ?= demo_output

.PHONY: demo test install clean bench

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# torch is pinned in the same pip command as everything else (requirements/ci.txt) so that
# no dependency can replace the CPU build with a CUDA one.
$(STAMP): $(PY) pyproject.toml requirements/ci.txt
	$(PIP) install -q -r requirements/ci.txt
	$(PIP) install -q --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/hccfusion demo --out $(DEMO_OUT)

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/bench_crf.py
	$(PY) benchmarks/bench_endpoints.py
	$(PY) benchmarks/bench_concordance.py
	$(PY) benchmarks/bench_deid.py
	$(PY) benchmarks/bench_imaging.py
	$(PY) benchmarks/bench_pathology.py
	$(PY) benchmarks/bench_mechanism.py
	$(PY) benchmarks/bench_models.py --demo $(DEMO_OUT)

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
