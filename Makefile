# tiny-onn: every target but `bench` and `pareto` works from a fresh clone (they need the Tiny Shakespeare file, CORPUS=...);
# `make install` is idempotent.
PY      := .venv/bin/python
PIP     := .venv/bin/pip
STAMP   := .venv/.installed
# Where torch comes from. Empty: pip's default (on our machines the CPU build on local disk; on a plain Linux machine
# PyPI's build with CUDA, several GB). For the CPU-only build elsewhere: TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
CORPUS  ?=

.PHONY: install test train demo docs bench pareto scan-router forgetting export

install: $(STAMP)

# torch first, pinned, so the project's range installs nothing more
$(STAMP): pyproject.toml
	python3 -m venv .venv
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PIP) install -q -e '.[dev]'
	touch $(STAMP)

export: install
	.venv/bin/nbdev_export

test: install
	.venv/bin/pytest -q nbs tests

train: install
	.venv/bin/tiny-onn train --out runs/main

demo: install
	.venv/bin/tiny-onn demo --out runs/demo --seeds 0 1 2 3 4 --budgets free 2

docs: install
	$(PY) docs/build.py

bench: install
	@test -n "$(CORPUS)" || { echo "make bench needs the Tiny Shakespeare file: make bench CORPUS=path/to/input.txt"; \
	  echo "(download it once from https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt)"; exit 2; }
	$(PY) bench/bench_lm.py --corpus $(CORPUS) --out bench/results
	$(PY) bench/bench_experts.py --out bench/results
	$(PY) bench/bench_surprise.py --out bench/results
	$(PY) bench/bench_scan.py --corpus $(CORPUS) --out bench/results
	$(PY) bench/bench_saves.py --corpus $(CORPUS) --out bench/results

pareto: install  # every router at equal active width, k in {2,4,6,12}, 3 seeds at k=6: ~32 runs, ~2 h on 2 cores
	@test -n "$(CORPUS)" || { echo "make pareto needs the Tiny Shakespeare file: make pareto CORPUS=path/to/input.txt"; exit 2; }
	$(PY) bench/bench_pareto.py --corpus $(CORPUS) --out bench/results

scan-router: install  # Qwen3 surgery on a trained dense model, then routers for its 32 experts per layer: ~20 min on 2 cores
	@test -n "$(CORPUS)" || { echo "make scan-router needs the Tiny Shakespeare file: make scan-router CORPUS=path/to/input.txt"; exit 2; }
	$(PY) bench/bench_scan_router.py --corpus $(CORPUS) --out bench/results

forgetting: install  # three domains in order, dense / top-k / Tiny-ONN at equal active width, PI plasticity off and on, 3 seeds: ~45 min on 2 cores
	@test -n "$(CORPUS)" || { echo "make forgetting needs the Tiny Shakespeare file: make forgetting CORPUS=path/to/input.txt"; exit 2; }
	$(PY) bench/bench_forgetting.py --corpus $(CORPUS) --out bench/results
