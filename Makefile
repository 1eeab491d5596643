PYTHON ?= python3
PIP ?= $(PYTHON) -m pip

.PHONY: install demo test lint benchmark

install:
	$(PIP) install -q -e .

demo: install
	kerasolr demo --out runs/demo

test:
	$(PIP) install -q -e ".[test]"
	ruff check .
	$(PYTHON) -m pytest -q tests

lint:
	ruff check .

benchmark: install
	$(PYTHON) benchmarks/train_step.py
