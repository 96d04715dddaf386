# The two set-up commands (see README.md):
#   make run   install what is missing, build, start portierd with a demo organization
#   make test  install what is missing, build, check formatting, lint (make lint), run every
#              test, then the async and stateful tests again under ASan and UBSan (make sanitize)
# and the benchmark (minutes; docs/benchmarks.md):
#   make bench run every portier-bench scenario; figures in build/bench.json
SHELL := /bin/bash
.DEFAULT_GOAL := run

# Debian 12 packages the build, the server and the tests use.
DEB_PACKAGES := build-essential cmake ninja-build pkg-config git ca-certificates tzdata \
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libssl-dev libsodium-dev \
  libsqlite3-dev libhowardhinnant-date-dev libspdlog-dev libfmt-dev libcli11-dev \
  libgpiod-dev libgtest-dev libgmock-dev clang-format-14 clang-tidy-14 python3 openssl chromium \
  mosquitto
# The web part (web/) builds with node and npm (node 20.19 or later: Vite needs it). They come
# with the machine; where they do not, Debian's are installed.
NODE_PACKAGES := nodejs npm

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
JOBS ?= $(shell nproc)
LISTEN ?= 127.0.0.1:8080
DATA ?= data
FORMAT_FILES = $(shell git ls-files --cached --others --exclude-standard 'src/*.cpp' 'src/*.hpp' 'tests/*.cpp' 'tests/*.hpp' 2>/dev/null)

.PHONY: deps build run test sanitize bench format check-format lint clean

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	command -v node >/dev/null && command -v npm >/dev/null || missing="$$missing $(NODE_PACKAGES)"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi

# Both presets use Ninja: unlike make it compiles a target's sources while the libraries it
# links are still being built, which keeps both cores busy (the sanitizer build: 411 s with
# make, 333 s with Ninja). A build directory made by make before is reconfigured from scratch.
# The default preset is RelWithDebInfo with -O2 -g1: line tables only (perf, backtraces and
# sanitizer reports keep file:line; gdb sees no locals), 30% less compile time than -g.
define ninja-dir
	@if [ -f $(1)/CMakeCache.txt ] && ! grep -qx 'CMAKE_GENERATOR:INTERNAL=Ninja' $(1)/CMakeCache.txt; \
	then echo "$(1): made by another generator; configuring it again for Ninja"; \
	  rm -rf $(1)/CMakeCache.txt $(1)/CMakeFiles; fi
endef

build: deps
	$(call ninja-dir,build)
	cmake --preset default
	cmake --build --preset default -j $(JOBS)

run: build
	./scripts/demo.sh $(DATA) $(LISTEN)

check-format: deps
	@out=$$(clang-format-14 --dry-run --Werror $(FORMAT_FILES) 2>&1) || { echo "$$out" | head -40; \
	  echo "code is not formatted: run 'make format'"; exit 1; }
	@echo "format: ok"

format: deps
	clang-format-14 -i $(FORMAT_FILES)

# clang-tidy-14 (.clang-tidy) over every source file of src/ and tests/, through the unity
# files of build-debug (configured only: lint needs no build), $(JOBS) at a time; a unit clean
# before and unchanged since (with what it includes) is not checked again (scripts/lint.py,
# cache in build-debug/lint-cache).
lint: deps
	$(call ninja-dir,build-debug)
	cmake --preset debug >/dev/null
	python3 -B scripts/lint.py --build build-debug -j $(JOBS)

test: build check-format lint
	ctest --preset default -j $(JOBS)
	$(MAKE) --no-print-directory sanitize

# The tests of async code and state (the store, the recorder, the push gateway, the open path,
# the SDK and the unit agent, with the real portierd and portier-unit they start) built with
# AddressSanitizer and UndefinedBehaviorSanitizer in build-debug (-O0 -g1: a third of the
# compile time of -O1 -g, with line numbers in reports). build-debug is a unity build: each
# target's sources are compiled eight to a file, so the Boost headers are parsed and their
# templates instantiated once per eight sources (333 s to 234 s here). So two sources of one
# target must not both define the same name in an anonymous namespace, and a class of a
# header must not hold a member of an anonymous-namespace type (-Wsubobject-linkage).
# UBSan runs without its null and alignment checks: at -O0 they guard every member access
# and doubled the compile time of the Beast files (98 s to 58 s for push/session.cpp); a null
# dereference still stops the test with a stack trace (SEGV under ASan), and x86 does not
# fault on alignment. Left out: the REST integration, CLI, bench and browser tests
# (synchronous request handling the push and door tests also drive; they would double the
# time).
SANITIZE_TESTS := core_tests crypto_tests sqlite_tests store_tests sync_tests server_tests \
  client_unit_tests unit_tests client_tests push_tests door_tests
sanitize: deps
	$(call ninja-dir,build-debug)
	cmake --preset debug
	cmake --build --preset debug -j $(JOBS) --target $(SANITIZE_TESTS)
	ctest --preset debug -j $(JOBS) -L '^($(subst $(eval) ,|,$(strip $(SANITIZE_TESTS))))$$'

# BENCH_ARGS: e.g. BENCH_ARGS="fanout --n 1000,5000" (default: every scenario).
BENCH_ARGS ?= all
bench: build
	./build/src/bench/portier-bench --json $(BENCH_ARGS) > build/bench.json
	@echo "figures: build/bench.json"

clean:
	rm -rf build
