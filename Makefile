# dbsnaplake entry points. `make help` lists them.
CARGO ?= cargo
VENV  ?= .venv
PY    := $(VENV)/bin/python
BIN   := target/release/dbsnaplake

.PHONY: help demo build test check lint lint-infra python-deps package deploy bench bench-s3 bench-scale bench-cold-start clean

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  %-12s %s\n", $$1, $$2}'

build: ## Build the dbsnaplake binary (release)
	$(CARGO) build --release --locked -p dbsnaplake

demo: build ## Generate the bundled sample snapshot (2 tables, ~45 MB) and convert it into a lake
	rm -rf .demo
	$(BIN) generate --out .demo/snapshot --rows 300000 --files 12 \
		--table mydatabase/public/orders --table mydatabase/public/customers
	$(BIN) run --job examples/sample-job.json

python-deps: $(VENV)/.installed ## Virtualenv with the test S3 server (moto) and the independent readers (pyarrow, DuckDB)
$(VENV)/.installed: tests/python/requirements.txt tests/s3-server-requirements.txt infra/lint-requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check \
		-r tests/s3-server-requirements.txt -r tests/python/requirements.txt -r infra/lint-requirements.txt
	touch $@

lint: ## cargo fmt --check and clippy with warnings as errors
	$(CARGO) fmt --all --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

check: ## fmt, clippy and the cargo tests; installs nothing (the S3 tests use MOTO_SERVER or .venv/bin/moto_server)
	$(CARGO) fmt --all --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings
	$(CARGO) test --locked --workspace

test: lint lint-infra python-deps ## Lints, every Rust test (S3 ones against moto on 127.0.0.1), the pyarrow/DuckDB read-back tests, the state machine in moto with the Lambda binaries
	MOTO_SERVER=$(CURDIR)/$(VENV)/bin/moto_server $(CARGO) test --locked --workspace
	$(CARGO) build --locked --workspace --bins
	MOTO_SERVER=$(CURDIR)/$(VENV)/bin/moto_server DBSNAPLAKE_BIN=$(CURDIR)/target/debug/dbsnaplake \
		$(VENV)/bin/pytest -q tests/python

CHECKOV := .tools/checkov/bin/checkov

lint-infra: python-deps $(CHECKOV) ## cfn-lint and checkov (skips documented in the template) on the SAM template, asl-validator on the state machine
	test -x .tools/node_modules/.bin/asl-validator || \
		npm install --prefix .tools --no-save --no-audit --no-fund asl-validator@4.0.0
	$(VENV)/bin/cfn-lint infra/template.yaml
	BC_SKIP_MAPPING=TRUE $(CHECKOV) --skip-download --quiet --compact --framework cloudformation -f infra/template.yaml
	.tools/node_modules/.bin/asl-validator --json-path statemachine/dbsnaplake.asl.json

# checkov pins packaging<24, which pytest refuses: a virtualenv of its own.
$(CHECKOV): infra/checkov-requirements.txt
	python3 -m venv .tools/checkov
	.tools/checkov/bin/pip install --quiet --disable-pip-version-check -r infra/checkov-requirements.txt
	touch $@

LAMBDAS := planner staging-worker partition-planner compaction-worker validator trigger
LAMBDA_DIR := target/lambda-arm64
# The largest zip `make package` accepts (bytes); see docs/aws.md#packages.
ZIP_BUDGET := 16777216

package: ## arm64 zips of the six functions from one build (profile lambda, cargo-lambda from pip), sizes printed, each within ZIP_BUDGET
	$(VENV)/bin/pip install --quiet --disable-pip-version-check cargo-lambda || pip install cargo-lambda
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH cargo lambda build --locked --profile lambda --arm64 \
		--lambda-dir $(LAMBDA_DIR) $(addprefix -p dbsnaplake-,$(LAMBDAS))
	python3 infra/package.py $(LAMBDA_DIR) $(ZIP_BUDGET) $(addprefix dbsnaplake-,$(LAMBDAS))

# `sam build` (BuildMethod: makefile, in source: infra/samconfig.toml) takes each function's
# bootstrap from the one `make package` build.
build-PlannerFunction: FUNCTION = planner
build-StagingWorkerFunction: FUNCTION = staging-worker
build-PartitionPlannerFunction: FUNCTION = partition-planner
build-CompactionWorkerFunction: FUNCTION = compaction-worker
build-ValidatorFunction: FUNCTION = validator
build-TriggerFunction: FUNCTION = trigger
build-PlannerFunction build-StagingWorkerFunction build-PartitionPlannerFunction \
build-CompactionWorkerFunction build-ValidatorFunction build-TriggerFunction: package
	cp $(LAMBDA_DIR)/dbsnaplake-$(FUNCTION)/bootstrap $(ARTIFACTS_DIR)/bootstrap

bench-scale: build python-deps ## dbsnaplake vs polars vs DuckDB at BENCH_SCALE GB (default 8; hard links of the reference files), each in its own memory cgroup; not in CI
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	DBSNAPLAKE_BIN=$(CURDIR)/$(BIN) $(PY) bench/scale_bench.py

bench-cold-start: python-deps ## Init duration of each function binary, release profile vs lambda profile (native builds; page cache dropped when root)
	$(CARGO) build --release --locked $(addprefix -p dbsnaplake-,$(LAMBDAS))
	$(CARGO) build --profile lambda --locked $(addprefix -p dbsnaplake-,$(LAMBDAS))
	$(PY) bench/cold_start.py target/release target/lambda

deploy: ## sam build + sam deploy --guided (needs AWS credentials; never run in CI)
	cd infra && sam build && sam deploy --guided

bench-s3: build python-deps ## A staging and a compaction worker against moto on loopback (BENCH_BASELINE=<binary> alternates another build)
	DBSNAPLAKE_BIN=$(CURDIR)/$(BIN) $(PY) bench/s3_bench.py

bench: build python-deps ## dbsnaplake vs polars vs DuckDB on the reference job (BENCH_ROWS, BENCH_ROUNDS to scale; BENCH_ORDER=time for time-ordered sources; BENCH_SECTIONS=workers,small_files for parts)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	DBSNAPLAKE_BIN=$(CURDIR)/$(BIN) $(PY) bench/bench.py

clean: ## Remove build output, the demo and the virtualenv
	$(CARGO) clean
	rm -rf .demo $(VENV)
