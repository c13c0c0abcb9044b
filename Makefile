# The few verbs a newcomer needs. Every target sets up what it needs first (idempotent).
#   make run     set up, train if needed, start Rasa + action server + app (Ctrl-C stops all)
#   make test    set up, train if needed, lint, run the whole test suite
#   make train   (re)train the Rasa model if data/, config.yml or domain.yml changed, and the
#                complaint category model if there is none
#   make bench   benchmarks: web chat vs Rasa REST, SMS vs Rasa's twilio connector, handoff, NLP
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
RASA_VENV := .venv-rasa
PY        := $(VENV)/bin/python
PYTHON311 ?=
PYTHON310 ?=

APP_STAMP  := $(VENV)/.installed-app
DEV_STAMP  := $(VENV)/.installed-dev
RASA_STAMP := $(RASA_VENV)/.installed
SYSTEM_STAMP := $(VENV)/.installed-system

.PHONY: help setup setup-dev run train test lint format bench clean

help:
	@sed -n '2,6p' Makefile | sed 's/^# \{0,1\}//'

$(APP_STAMP): requirements/app.txt
	@test -x $(PY) || $${PYTHON311:-$$(scripts/find-python 3.11)} -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/app.txt
	@touch $@

$(DEV_STAMP): $(APP_STAMP) requirements/dev.txt
	$(PY) -m pip install --quiet -r requirements/dev.txt
	@touch $@

$(RASA_STAMP): requirements/rasa.txt
	@test -x $(RASA_VENV)/bin/python || $${PYTHON310:-$$(scripts/find-python 3.10)} -m venv $(RASA_VENV)
	$(RASA_VENV)/bin/python -m pip install --quiet -r requirements/rasa.txt
	@touch $@

# Real servers the tests start: Debian's Chromium for the browser test (Playwright cannot
# download one here) and Dovecot as the IMAP server of the email tests.
$(SYSTEM_STAMP): $(DEV_STAMP)
	@if ! command -v chromium >/dev/null || ! test -x /usr/sbin/dovecot; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium dovecot-imapd >/dev/null; fi
	@touch $@

setup: $(APP_STAMP) $(RASA_STAMP)

setup-dev: setup $(DEV_STAMP) $(SYSTEM_STAMP)

train: setup
	$(PY) -m bot train
	$(PY) -m bot nlp train-categories --if-missing

run: setup
	$(PY) -m bot run

lint: setup-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: setup-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: setup-dev lint
	$(PY) -m bot train
	$(PY) -m bot nlp train-categories --if-missing
	$(PY) -m bot nlp evaluate-sentiment
	$(PY) -m pytest

bench: setup-dev
	$(PY) -m bot train
	$(PY) bench/turns.py
	$(PY) bench/sms.py
	$(PY) bench/escalation.py
	$(PY) bench/refunds.py
	$(PY) bench/nlp.py

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
