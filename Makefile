# churnclv: every target is a thin wrapper around the `churnclv` CLI. `make` lists them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CLI    := $(BIN)/churnclv
CONFIG ?= configs/demo.yaml
CUSTOMERS ?= 5000
# the demo data of the config: configs/demo-subscription.yaml reads the subscription scenario's
SCENARIO ?= $(if $(findstring subscription,$(CONFIG)),subscription,retail)
DEMO_DIR ?= $(if $(findstring subscription,$(CONFIG)),demo_data_subscription,demo_data)
DEMO_OUT := $(if $(findstring subscription,$(CONFIG)),outputs/demo-subscription,outputs/demo)
MLFLOW_DB := $(if $(findstring subscription,$(CONFIG)),mlflow-subscription.db,mlflow.db)
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-10)

.DEFAULT_GOAL := help
.PHONY: help setup demo data features train score report serve mlflow-ui notebook notebook-run test test-fast browser lint format bench bench-deps docs clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: $(STAMP) ## Create .venv and install churnclv with its pinned dependencies
$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

demo: setup data features train score report ## Whole main job on the demo data, data to segment lists and reports
	@echo ""
	@echo "demo outputs:"
	@echo "  $(DEMO_DIR)/                          input tables + ground truth"
	@echo "  $(DEMO_OUT)/report/training_report.html   models vs baselines"
	@echo "  $(DEMO_OUT)/current/scores.parquet, $(DEMO_OUT)/current/segments/*.csv, $(DEMO_OUT)/current/summary.csv"
	@echo "  $(DEMO_OUT)/reports/report.html    retention, cohorts, CLV by channel"
	@echo "  $(MLFLOW_DB) + mlruns/                 MLflow runs and registered models (make mlflow-ui)"
	@echo "next: CHURNCLV_API_KEYS=<key> make serve$(if $(findstring subscription,$(CONFIG)), CONFIG=$(CONFIG),)   (API and segment page on http://127.0.0.1:3000/)"

data: setup ## Generate the demo data into demo_data/ (CUSTOMERS=5000; the subscription demo's with CONFIG=configs/demo-subscription.yaml)
	$(CLI) demo-data --scenario $(SCENARIO) --customers $(CUSTOMERS) --seed 42 --out $(DEMO_DIR)

features: setup ## Build the feature frame at the cutoff (CONFIG=configs/demo.yaml)
	$(CLI) features --config $(CONFIG)

train: setup ## Train, evaluate and register the models
	$(CLI) train --config $(CONFIG)

score: setup ## Score customers and write segment lists
	$(CLI) score --config $(CONFIG)

report: setup ## Retention and campaign reports
	$(CLI) report --config $(CONFIG)

serve: setup ## Start the API and segment page on 127.0.0.1:3000 (needs CHURNCLV_API_KEYS)
	$(CLI) serve --config $(CONFIG)

mlflow-ui: setup ## Open the MLflow UI on 127.0.0.1:5000 over mlflow.db (the subscription demo's with its CONFIG)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(MLFLOW_DB) --host 127.0.0.1 --port 5000

NOTEBOOK := notebooks/quickstart.ipynb

notebook: setup ## Open the quickstart notebook in JupyterLab (on 127.0.0.1:8888; run `make demo` first)
	@echo "JupyterLab on the project folder; the notebook: http://127.0.0.1:8888/lab/tree/$(NOTEBOOK) (add the token printed below)"
	CHURNCLV_ROOT=$(CURDIR) $(BIN)/jupyter lab --ip 127.0.0.1 --port 8888 --allow-root \
		--ServerApp.root_dir=$(CURDIR) $(NOTEBOOK)

notebook-run: setup ## Execute the quickstart notebook on the current demo outputs and store its outputs
	$(BIN)/python notebooks/execute.py

test: setup browser ## Run the whole test suite (unit, Spark local mode, real server, headless Chromium)
	$(BIN)/pytest -q -n 2 --dist loadfile --no-loadscope-reorder

browser: ## Install Debian's Chromium for the page test (needs root; skipped when present)
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

test-fast: setup ## Tests without the slow and Spark ones
	$(BIN)/pytest -q -m "not slow and not spark"

lint: setup ## ruff lint and format check, import layers (import-linter contracts in pyproject.toml)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: setup ## Format and auto-fix with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

LIFETIMES_VENV := bench/data/lifetimes-venv

bench-deps: ## Install wrk (Debian, needs root) and lifetimes 0.11.3 in its own venv, for the benchmarks
	command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)
	test -x $(LIFETIMES_VENV)/bin/python || ($(PYTHON) -m venv $(LIFETIMES_VENV) && \
		$(LIFETIMES_VENV)/bin/pip install --quiet lifetimes==0.11.3 pyarrow)

bench: setup bench-deps ## Run every benchmark (about 25 min) and write bench/RESULTS.md
	$(BIN)/python bench/run_all.py

docs: setup ## Regenerate docs/features.md from the feature catalogue
	$(CLI) features --list > docs/features.md

clean: ## Remove generated data and outputs (keeps .venv)
	rm -rf demo_data demo_data_subscription outputs bench/data .pytest_cache mlflow-subscription.db
