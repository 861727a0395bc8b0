# Two commands do all setup on a fresh machine:
#   make demo   create .venv, install msglance, fit SIREN on the embedded astronaut image
#   make test   create .venv (if needed), install msglance with test extras, run the suite
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.msglance-installed

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# CPU build of PyTorch (never a multi-GB CUDA build in setup or CI)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[all,test,bench]"
	touch $(STAMP)

.PHONY: install demo test bench
install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/msglance demo

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/bench_glance.py
