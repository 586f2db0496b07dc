# otree-manager: every target a developer or CI needs. `make test` is the test command; `make demo` the demo.
SHELL := /bin/bash
NODE  ?= node
TESTS ?= $(shell find test -name '*.test.ts' | sort)

.PHONY: deps install build lint test demo bench services services-stop clean

deps:               ## install dependencies from the lockfile
	npm ci

install: build      ## install on a Debian host with Dokku (as root; DESTDIR=... stages instead)
	bash scripts/install.sh

build:              ## compile TypeScript to dist/ (the simulator and the CLI run from there)
	npx tsc -p tsconfig.json

lint: 
	npx eslint .
	npx tsc -p tsconfig.json --noEmit

test: build         ## every test, against the services started by `make services` (or .ci/run)
	$(NODE) --import tsx --test --test-reporter=spec $(TESTS)

demo: build         ## the daemon on the example manifests against the Dokku simulator
	$(NODE) --import tsx scripts/demo.ts

bench: build        ## benchmarks: prints a table, writes bench/results.json
	$(NODE) --import tsx bench/run.ts

services:           ## start PostgreSQL, Redis and a Docker Engine on loopback for the tests
	bash scripts/services.sh start

services-stop:
	bash scripts/services.sh stop

clean:
	rm -rf dist
