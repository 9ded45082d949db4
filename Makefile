# Cairn — the two commands of the quick start are `make demo` and `make test`.
GO      ?= go
BIN     := bin/cairn
DEMO    := .cairn-demo
PKGS    := ./...

.PHONY: all build plugins proto demo demo-retrain test deps vet fmt-check fuzz bench chaos clean

all: build plugins

## build: bin/cairn and bin/cairn-full (below), stamped with 'git describe --always --dirty' and the commit ('cairn --version').
## TAGS: nomsgpack leaves gin's MessagePack binding and renderer out (Cairn uses neither): its codec
## (ugorji) is neither linked nor initialised at every start (docs/architecture.md, "What every
## process links"). grpcnotrace leaves gRPC's request tracing out (golang.org/x/net/trace, off
## unless grpc.EnableTracing is set, which Cairn never does; its init also put /debug/requests and
## /debug/events on http.DefaultServeMux, which Cairn does not serve). A plain 'go build' or
## 'go install' makes the same cairn, with them.
VERSION ?= $(shell git describe --always --dirty 2>/dev/null)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)$(if $(filter %-dirty,$(VERSION)), (modified))
TAGS    ?= nomsgpack,grpcnotrace
## STATIC (1 on Linux, else 0): bin/cairn is linked statically, with glibc's libc.a (libc6-dev,
## glibc-static): no dynamic loader runs at each start (loading libc, relocating, resolving its
## symbols: 1.2 ms of CPU and 100 page faults of every command here, docs/benchmarks.md). Its tags
## keep out what a static glibc cannot do: osusergo and netgo (Go's own user and host-name lookups,
## from /etc/passwd, /etc/hosts and DNS, not glibc's NSS modules), sqlite_omit_load_extension
## (SQLite loads no extension; Cairn loads none). STATIC=0 links as a plain 'go build' does.
STATIC  ?= $(if $(filter Linux,$(shell uname -s)),1,0)
comma   := ,
BUILD_TAGS    = $(TAGS)$(if $(filter 1,$(STATIC)),$(comma)osusergo$(comma)netgo$(comma)sqlite_omit_load_extension)
BUILD_LDFLAGS = $(if $(filter 1,$(STATIC)),-linkmode=external -extldflags=-static )-X main.version=$(VERSION) -X 'main.commit=$(COMMIT)'
## CMD: the package built (bench builds its floor of a one-task run, bench/internal/runfloor, with
## the same flags and tags: 'make build CMD=./bench/internal/runfloor BIN=...').
## Of ./cmd/cairn, two builds: $(BIN), the lean one (tag lean: no web server, no plugin host; it
## starts in a third of the time), and $(FULL) beside it, the full one, to which the lean one hands
## what needs those (cairn server, cairn plugins, a plugin's task types: docs/architecture.md,
## "Two builds"). Install both in one folder.
CMD     ?= ./cmd/cairn
FULL     = $(dir $(BIN))cairn-full
build:
ifeq ($(CMD),./cmd/cairn)
	$(GO) build -tags "$(BUILD_TAGS)$(comma)lean" -ldflags "$(BUILD_LDFLAGS)" -o $(BIN) $(CMD)
	$(GO) build -tags "$(BUILD_TAGS)" -ldflags "$(BUILD_LDFLAGS)" -o $(FULL) $(CMD)
else
	$(GO) build -tags "$(BUILD_TAGS)" -ldflags "$(BUILD_LDFLAGS)" -o $(BIN) $(CMD)
endif

## plugins: the example plugin, bin/plugins/kmeans (install: copy it into $$CAIRN_HOME/plugins, then 'cairn plugins lock').
plugins:
	$(GO) build -o bin/plugins/kmeans ./plugins/examples/kmeans

## proto: regenerate plugins/proto's Go code (needs protoc, protoc-gen-go and protoc-gen-go-grpc; the output is committed).
proto:
	cd plugins/proto && PATH="$$PATH:$$($(GO) env GOPATH)/bin" protoc --go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative plugin.proto

## demo: build and run the example ML workflow end to end on embedded SQLite
## (breast cancer: collect, clean, split, tune, train, evaluate with a gate, deploy to the model registry).
DEMO_WF := workflows/examples/breast-cancer.yaml
demo: build
	@rm -rf $(DEMO)
	@echo "== cairn validate"
	./$(BIN) --home $(DEMO) validate $(DEMO_WF)
	@echo "== cairn graph (Mermaid; paste into any Mermaid viewer)"
	./$(BIN) --home $(DEMO) graph $(DEMO_WF)
	@echo "== cairn run"
	./$(BIN) --home $(DEMO) run $(DEMO_WF)
	@echo "== cairn show (the run: every task, its timeline, outputs and metrics)"
	./$(BIN) --home $(DEMO) show $$(./$(BIN) --home $(DEMO) runs -q --limit 1)
	@echo "== cairn logs (the tuning trials)"
	./$(BIN) --home $(DEMO) logs $$(./$(BIN) --home $(DEMO) runs -q --limit 1) tune
	@echo "== cairn artifact (the evaluation's artifacts; fetch one with: cairn --home $(DEMO) artifact RUN evaluate NAME -o FILE)"
	./$(BIN) --home $(DEMO) artifact $$(./$(BIN) --home $(DEMO) runs -q --limit 1) evaluate
	@echo "== cairn lineage (what the predictions were made from; --downstream, --format dot|json|openlineage)"
	./$(BIN) --home $(DEMO) lineage $$(./$(BIN) --home $(DEMO) runs -q --limit 1)/score
	@echo "== cairn models (the model the run deployed, past its gate, as the production version of breast-cancer)"
	./$(BIN) --home $(DEMO) models show breast-cancer

## demo-retrain: the retrain loop (workflows/examples/retrain.yaml): deploy a first production
## version, then backfill eight daily slots of fresh data that drifts from the 4th on, run by a
## cairn server; prints per day whether retraining was due, the drifted features and the version
## in production (a retrain and a promotion once the drift is large enough). A few seconds.
demo-retrain: build
	sh workflows/examples/retrain-demo.sh ./$(BIN) .cairn-demo-retrain

## test: everything the tests need, then formatting, vet and the race-enabled suite
## (the fuzzers' seed corpora run as part of it). Each package may take 25 minutes (go test's default, 10, is
## near what cmd/cairn's race-enabled tests took on a loaded 2-CPU machine).
## The PostgreSQL suites (store/postgres, and collect's sql source) run against CAIRN_TEST_POSTGRES; when it is
## not set and the local server answers at PG_TEST_DSN, that one (each test makes and drops a database of its own).
PG_TEST_DSN ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable
test: deps fmt-check vet
	@if [ -z "$$CAIRN_TEST_POSTGRES" ] && command -v psql >/dev/null 2>&1 && psql "$(PG_TEST_DSN)" -Atqc 'select 1' >/dev/null 2>&1; then \
		echo "PostgreSQL answers at $(PG_TEST_DSN): its suites run"; export CAIRN_TEST_POSTGRES="$(PG_TEST_DSN)"; \
	elif [ -z "$$CAIRN_TEST_POSTGRES" ]; then echo "no PostgreSQL at $(PG_TEST_DSN) and CAIRN_TEST_POSTGRES unset: its suites skip"; fi; \
	PATH="$(CURDIR)/$(dir $(PROMTOOL)):$$PATH" $(GO) test -race -count=1 -timeout 25m $(PKGS)

## deps: the Debian packages the tests use, installed when missing (as root, with apt-get):
## zsh, for the zsh completion test, and chromium, which the ui browser tests drive (headless,
## through chromedp; nothing downloads a browser at run time); and promtool, which checks cairn
## server's /metrics: only that binary is taken out of Debian's prometheus package (apt-get
## download, no root needed) into bin/deps, which 'make test' puts first on PATH, since installing
## the package would also install, and under systemd start, a Prometheus server.
## Without them those tests skip (or check less) and say so.
DEBS := zsh chromium
PROMTOOL := bin/deps/promtool
deps:
	@if ! command -v promtool >/dev/null 2>&1 && [ ! -x $(PROMTOOL) ]; then \
		tmp=$$(mktemp -d); \
		if (cd $$tmp && (apt-get download -qq prometheus >/dev/null 2>&1 || \
			 (apt-get update -qq >/dev/null 2>&1 && apt-get download -qq prometheus >/dev/null 2>&1))) && \
		   dpkg-deb --fsys-tarfile $$tmp/prometheus_*.deb | tar -x -C $$tmp ./usr/bin/promtool && \
		   mkdir -p $(dir $(PROMTOOL)) && mv $$tmp/usr/bin/promtool $(PROMTOOL); then \
			echo "promtool: $(PROMTOOL), from Debian's prometheus package"; \
		else echo "could not get promtool from Debian's prometheus package: /metrics is checked without it"; fi; \
		rm -rf $$tmp; \
	fi
	@missing=$$(for p in $(DEBS); do command -v $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing $$missing"; \
			(apt-get install -y -qq $$missing >/dev/null 2>&1 || \
			 (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq $$missing >/dev/null 2>&1)) || \
			echo "could not install $$missing: the tests that need it will skip"; \
		else echo "missing $$missing (not root or no apt-get): the tests that need it will skip"; fi; \
	fi

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

## fuzz: run each fuzzer for a while (FUZZTIME=1m each by default): the workflow parser,
## its reading of a large file task by task (the same as of the whole file),
## the when:/template expression language, the CSV / JSON Lines reader, the CSV reader
## against the former encoding/csv one, and its number parser against strconv.
FUZZTIME ?= 1m
fuzz:
	$(GO) test ./workflows -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	$(GO) test ./workflows -run '^$$' -fuzz '^FuzzChunks$$' -fuzztime $(FUZZTIME)
	$(GO) test ./workflows -run '^$$' -fuzz '^FuzzExpr$$' -fuzztime $(FUZZTIME)
	$(GO) test ./tasks/ml/dataset -run '^$$' -fuzz '^FuzzRead$$' -fuzztime $(FUZZTIME)
	$(GO) test ./tasks/ml/dataset -run '^$$' -fuzz '^FuzzReadCSVDiff$$' -fuzztime $(FUZZTIME)
	$(GO) test ./tasks/ml/dataset -run '^$$' -fuzz '^FuzzScanNumber$$' -fuzztime $(FUZZTIME)

## bench: the performance figures of docs/benchmarks.md. Shadow scoring over HTTP (two cairn server processes,
## its rounds inside one run) once. Last, the figures of issue #18 (the hop) with the
## physical floors measured in the same run, each measured BENCH_REPS times, and their summary table; then
## the data path's figure (ReadCSV beside its floor and the reader it replaced, in turn: 9, 9 and 3 reads).
BENCH_REPS   ?= 5
HOP_BENCH    := ^Benchmark(ForkExecTrue1000|ForkExecTrue1000Parallel|BareHop1000|BareHopCairnVFS1000|BareBatchedCommit10000|NoopChain1000|ShellChain1000|NoopFan10000|NoopFan100000|ShellFan1000|RunOneTask)$$
SHADOW_BENCH := ^BenchmarkShadowHTTP$$
bench: build
	$(GO) test -run '^$$' -bench . -skip '$(HOP_BENCH)|$(SHADOW_BENCH)' -benchtime 1x -count 3 -timeout 30m ./bench/
	$(GO) test -run '^$$' -bench '$(SHADOW_BENCH)' -benchtime 1x -timeout 30m ./bench/
	$(GO) test -run '^$$' -bench . -skip '^BenchmarkReadCSVFigure$$' ./workflows/ ./store/sqlite/ ./scheduler/ ./tasks/shell/ ./tasks/ml/dataset/ ./tasks/ml/metrics/ ./tasks/ml/linear/ ./tasks/ml/tree/ ./tasks/tune/ ./plugins/ ./tasks/ml/cluster/ ./tasks/evaluate/ ./tasks/ml/synthetic/ ./ui/ ./serve/
	$(GO) test -run '^$$' -bench Import -benchtime 3x ./store/postgres/
	CAIRN_BENCH_REPS=$(BENCH_REPS) $(GO) test -run '^$$' -bench '$(HOP_BENCH)' -benchtime 1x -timeout 30m ./bench/
	$(GO) test -run '^$$' -bench '^BenchmarkReadCSVFigure$$' -benchtime 1x ./tasks/ml/dataset/

## chaos: kill -9 the running process at random moments, resume, check nothing is lost or doubled:
## CHAOS_ROUNDS rounds of a small workflow, then CHAOS_KILLS kills at 1-3 s intervals during 1,000 tasks
## (retries: 5) that must end in succeeded (a few minutes); then the long versions of the chaos package's
## scenarios (docs/reliability.md: ambiguous commits, kill -9 and SIGSTOP of servers and workers, dropped
## database connections), which print per scenario the tasks lost, completions accepted twice or under a
## stale lease, and runs not terminal. CHAOS_SEED replays the draws of one run. The PostgreSQL scenarios
## use CAIRN_TEST_POSTGRES, else the local server at PG_TEST_DSN when it answers.
CHAOS_ROUNDS ?= 25
CHAOS_KILLS  ?= 50
CHAOS_SEED   ?=
chaos: build
	CAIRN_CHAOS_ROUNDS=$(CHAOS_ROUNDS) CAIRN_CHAOS_KILLS=$(CHAOS_KILLS) CAIRN_CHAOS_SEED=$(CHAOS_SEED) $(GO) test -count=1 -run Chaos -timeout 30m -v ./cmd/cairn/
	@if [ -z "$$CAIRN_TEST_POSTGRES" ] && command -v psql >/dev/null 2>&1 && psql "$(PG_TEST_DSN)" -Atqc 'select 1' >/dev/null 2>&1; then \
		export CAIRN_TEST_POSTGRES="$(PG_TEST_DSN)"; fi; \
	CAIRN_CHAOS_LONG=1 CAIRN_CHAOS_KILLS=$(CHAOS_KILLS) CAIRN_CHAOS_SEED=$(CHAOS_SEED) CAIRN_CHAOS_BIN=$(CURDIR)/$(BIN) \
		$(GO) test -count=1 -timeout 60m -v ./chaos/

clean:
	rm -rf bin $(DEMO)
