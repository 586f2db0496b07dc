# otree-manager: every target a developer or CI needs. `make test` is the test command; `make demo` the demo.
SHELL := /bin/bash
NODE  ?= node
TESTS ?= $(shell find test -name '*.test.ts' | sort)

.PHONY: deps install build lint test demo bench services services-stop clean

# npm ci runs again whenever the lockfile or package.json is newer than the last install.
INSTALLED := node_modules/.otm-installed

deps: $(INSTALLED)  ## install dependencies from the lockfile

$(INSTALLED): package-lock.json package.json
	npm ci --no-audit --no-fund
	touch $@

install: build      ## install on a Debian host with Dokku (as root; DESTDIR=... stages instead)
	bash scripts/install.sh

build: $(INSTALLED) ## compile TypeScript to dist/ (the simulator and the CLI run from there)
	npx tsc -p tsconfig.json

lint: $(INSTALLED)  ## eslint (with the purity rule) and the type check
	npx eslint .
	npx tsc -p tsconfig.json --noEmit

test: build lint    ## lint, then every test, with the services it needs started (and stopped) on loopback
	bash scripts/with-services.sh test $(NODE) --import tsx --test --test-reporter=spec $(TESTS)

demo: build         ## the whole system on the example manifests: the daemon on the Dokku simulator (real containers with a Docker Engine), otm web with PostgreSQL; ARGS=--keep keeps it running
	bash scripts/with-services.sh demo $(NODE) --import tsx scripts/demo.ts $(ARGS)

bench: build        ## benchmarks: prints a table, writes bench/results.json
	$(NODE) --import tsx bench/run.ts

services:           ## start PostgreSQL, Redis and a Docker Engine on loopback for the tests
	bash scripts/services.sh start

services-stop:
	bash scripts/services.sh stop

clean:
	rm -rf dist
