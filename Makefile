# tiny-onn: every target works from a fresh clone; `make install` is idempotent.
PY      := .venv/bin/python
PIP     := .venv/bin/pip
STAMP   := .venv/.installed
CORPUS  ?= ../shared/data/tinyshakespeare.txt

.PHONY: install test train demo docs bench export clean-docs

install: $(STAMP)

# torch first, pinned to the CPU build that lies on this disk, so the project's range installs nothing more
$(STAMP): pyproject.toml
	python3 -m venv .venv
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev]'
	touch $(STAMP)

export: install
	.venv/bin/nbdev_export

test: install
	.venv/bin/pytest -q nbs tests

train: install
	.venv/bin/tiny-onn train --out runs/main

demo: install
	.venv/bin/tiny-onn demo --out runs/demo

docs: install
	$(PY) docs/build.py

bench: install
	$(PY) bench/bench_lm.py --corpus $(CORPUS) --out bench/results
	$(PY) bench/bench_surprise.py --out bench/results
