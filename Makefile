# AsyncCurl — build, demo and test on a fresh Debian machine with Swift.
#
#   make demo   installs what is missing, then runs Examples/demo against an embedded server
#   make test   installs what is missing, then runs every test
#   make bench  builds Benchmarks/ in release and compares AsyncCurl with the alternatives
#
# Debian packages are installed only when missing; `apt-get update` runs once before the first
# install, as a fresh machine needs.

SWIFT       ?= swift
SWIFT_FLAGS ?=

# What building needs, and what the tests' real peers need.
BUILD_PACKAGES := libcurl4-openssl-dev pkg-config
TEST_PACKAGES  := openssl redis-server nginx tinyproxy

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build demo test deps test-deps bench docs clean

all: build

# Installs the named Debian packages that are not installed yet.
define apt_install
	@missing=""; \
	for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing:$$missing"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

deps:
	$(call apt_install,$(BUILD_PACKAGES))

test-deps: deps
	$(call apt_install,$(TEST_PACKAGES))

build: deps
	$(SWIFT) build $(SWIFT_FLAGS)

demo: deps
	$(SWIFT) run $(SWIFT_FLAGS) demo

# --no-parallel: the example tests run child processes, and several core tests count this
# process's open file descriptors; running both test targets at once would disturb the counts.
test: test-deps
	$(SWIFT) test --no-parallel $(SWIFT_FLAGS)

# The DocC catalog in Sources/AsyncCurl/AsyncCurl.docc, built with swift-docc-plugin.
docs: deps
	$(SWIFT) package --allow-writing-to-directory .build/docs generate-documentation \
	  --target AsyncCurl --warnings-as-errors --output-path .build/docs

# Benchmarks/ is a separate package (it depends on SwiftNIO). Every scenario for every client,
# interleaved, in one run against one loopback server; prints the tables of BENCHMARKS.md.
# The fan-out opens 10,000 connections: the soft fd limit is raised as far as the hard one allows.
BENCH_PACKAGES := libssl-dev openssl
BENCH_ARGS     ?=

bench: deps
	$(call apt_install,$(BENCH_PACKAGES))
	cd Benchmarks && $(SWIFT) build -c release
	cd Benchmarks && { ulimit -n 65536 2>/dev/null || ulimit -n "$$(ulimit -Hn)"; } && ./.build/release/bench $(BENCH_ARGS)

clean:
	rm -rf .build
