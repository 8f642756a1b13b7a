# Every target creates .venv on first use. PYTHON may point at a 3.11 or 3.12 interpreter.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 3000
PARAMS ?=
STATE ?=

.PHONY: demo serve test lint screenshot openapi build bench bench-latency bench-load bench-backlog bench-learning bench-lift bench-edges bench-profiles bench-campaign clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m infra.demo

serve: $(STAMP)
	$(BIN)/python -m infra.twin --port $(PORT) --params "$(PARAMS)" $(if $(STATE),--state $(STATE))

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared functions infra bench tests

screenshot: $(STAMP)
	DASHBOARD_SCREENSHOT=$(CURDIR)/docs/img/dashboard.png $(BIN)/python -m pytest -q tests/e2e/test_dashboard.py

openapi: $(STAMP)
	$(BIN)/python -m infra.openapi

build:
	bash infra/sam-check.sh

# Speed as ratios against raw anchors in one run: decide core / VW, retrain / VW (10k and
# 100k decisions), cold import, first decide (about 6 minutes). FULL=1 adds 1M decisions.
bench: $(STAMP)
	$(BIN)/python -m bench.ratios $(if $(FULL),--full) | tee bench/results/ratios.txt

# Decide, reward and retrain together on the twin, 32 clients for 30 s, with the accounting
# (nothing lost, every decision learned once) (about 1.5 minutes).
bench-load: $(STAMP)
	$(BIN)/python -m bench.load --clients 32 --seconds 30 | tee bench/results/load.txt

# Retrain keeping up with 1,000 decisions/s on one decision point, time scaled by 10 (about
# 8 minutes).
bench-backlog: $(STAMP)
	$(BIN)/python -m bench.backlog --rate 1000 --scale 10 --intervals 5 | tee bench/results/backlog.txt

# Decide's latency in milliseconds: the core and the handler on moto (about a minute).
bench-latency: $(STAMP)
	$(BIN)/python -m bench.decide_latency

# About 8 minutes on 2 cores: 7 shops x 5 seeds x 10 rounds of 1,000 visitors, every peer.
bench-learning: $(STAMP)
	$(BIN)/python -m bench.learning --seeds 5

bench-lift: $(STAMP)
	$(BIN)/python -m bench.lift --seeds 5 | tee bench/results/lift.txt

# What hashing user ids and the key authorizer cost, at p50 (about a minute).
bench-edges: $(STAMP)
	$(BIN)/python -m bench.edges --decisions 4000 | tee bench/results/edges.txt

# What a profile read and an explanation add to decide (ratios, one run), and POST
# /interactions on the twin at 1,000 a second for 20 s with its accounting (about 2 minutes).
bench-profiles: $(STAMP)
	$(BIN)/python -m bench.profiles | tee bench/results/profiles.txt

# A campaign of 10,000 rows on the twin, end to end over HTTP (under a minute).
bench-campaign: $(STAMP)
	$(BIN)/python -m bench.campaign --rows 10000 | tee bench/results/campaign.txt

clean:
	rm -rf $(VENV) .aws-sam
