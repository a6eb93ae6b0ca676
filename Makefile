# AsyncCurl — build, demo and test on a fresh Debian machine with Swift.
#
#   make demo   installs what is missing, then runs Examples/demo against an embedded server
#   make test   installs what is missing, then runs every test
#   make bench  builds Benchmarks/ in release and compares AsyncCurl with the alternatives
#   make sanitize  runs every test under ThreadSanitizer, then under AddressSanitizer (+ leaks)
#   make leaks     runs the demo and the cancellation storm under valgrind memcheck
#   make soak      runs the integrity soak for longer (SOAK_SECONDS x SOAK_ROUNDS)
#   make autobahn  runs Autobahn|Testsuite's fuzzingserver (Python 2.7) against the WebSocket client
#
# Debian packages are installed only when missing; `apt-get update` runs once before the first
# install, as a fresh machine needs.

SWIFT       ?= swift
SWIFT_FLAGS ?=

# What building needs, and what the tests' real peers need.
BUILD_PACKAGES := libcurl4-openssl-dev pkg-config zlib1g-dev
TEST_PACKAGES  := openssl stunnel4 tinyproxy microsocks dante-server python3 libio-socket-socks-perl redis-server nginx \
                  squid krb5-kdc krb5-admin-server krb5-user gnutls-bin \
                  dovecot-imapd dovecot-pop3d python3-aiosmtpd python3-websockets \
                  python3-pyftpdlib python3-openssl python3-h2 curl

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build build-release demo test deps test-deps bench docs clean sanitize sanitize-thread sanitize-address leaks soak autobahn

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

# A release build of an example that creates its own CurlMulti from another module: Swift 6.3.1's
# optimizer once failed there ("circular reference") on an isolated deinit. CI keeps it honest.
build-release: deps
	$(SWIFT) build -c release --product demo --scratch-path .build-release $(SWIFT_FLAGS)

demo: deps
	$(SWIFT) run $(SWIFT_FLAGS) demo

# --no-parallel: the example tests run child processes, and several core tests count this
# process's open file descriptors; running both test targets at once would disturb the counts.
test: test-deps
	$(SWIFT) test --no-parallel $(SWIFT_FLAGS)

# The DocC catalogs of AsyncCurl and AsyncCurlWebSocket, built with swift-docc-plugin.
docs: deps
	$(SWIFT) package --allow-writing-to-directory .build/docs generate-documentation \
	  --target AsyncCurl --warnings-as-errors --output-path .build/docs
	$(SWIFT) package --allow-writing-to-directory .build/docs-websocket generate-documentation \
	  --target AsyncCurlWebSocket --warnings-as-errors --output-path .build/docs-websocket

# Benchmarks/ is a separate package (it depends on SwiftNIO). Every scenario for every client,
# interleaved, in one run against one loopback server; prints the tables of BENCHMARKS.md.
# The fan-out opens 10,000 connections: the soft fd limit is raised as far as the hard one allows.
# The transfer scenarios start nginx and run the curl command line:
#   make bench BENCH_ARGS="--scenarios transfers"            (--quick for a smoke run)
BENCH_PACKAGES := libssl-dev openssl nginx curl
BENCH_ARGS     ?=

bench: deps
	$(call apt_install,$(BENCH_PACKAGES))
	@# SwiftPM keeps a path dependency's file list in release.yaml and misses files added to the
	@# library since; dropping the file makes it look again (the build itself stays incremental).
	rm -f Benchmarks/.build/release.yaml
	cd Benchmarks && $(SWIFT) build -c release
	cd Benchmarks && { ulimit -n 65536 2>/dev/null || ulimit -n "$$(ulimit -Hn)"; } && ./.build/release/bench $(BENCH_ARGS)

# ---- Reliability: sanitizers, leak checks, soak (see RELIABILITY.md) ------------------------
# Each sanitizer builds in its own scratch path, so it never fights the normal build.
# Everything runs 5-20 times slower under a sanitizer: the soak is shortened and the storm's
# cancel-to-return limit raised (the tests' own knobs); the resident-memory assertions switch
# themselves off there, because the sanitizers' allocators keep freed memory on purpose.
# --disable-xctest: every test uses swift-testing; the empty XCTest pass would only add XCTest's
# own leak to LeakSanitizer's report.
SANITIZERS_DIR := Tests/Sanitizers
SANITIZE_ENV   ?= AC_SOAK_SECONDS=20 AC_STORM_LATENCY_MS=5000
TSAN_OPTIONS_FOR_TESTS := suppressions=$(CURDIR)/$(SANITIZERS_DIR)/tsan.supp:second_deadlock_stack=1
# No strict_string_checks: it makes strtol's interceptor check up to a NUL that the parse never
# reaches, and libcurl 7.88.1's FTP reply parser (ftp.c ftp_endofresp: strtol on a reply code in
# its unterminated 64 KiB receive buffer, reading 4 bytes) then fails every FTP test. Without it
# the interceptors still check every byte a string function really reads.
ASAN_OPTIONS_FOR_TESTS := detect_leaks=1:detect_stack_use_after_return=1
LSAN_OPTIONS_FOR_TESTS := suppressions=$(CURDIR)/$(SANITIZERS_DIR)/lsan.supp:print_suppressions=0
# ld.gold prints hundreds of "Cannot export local symbol '__asan_check_...'" warnings for every
# AddressSanitizer link; the toolchain's lld links the same binaries without a word.
ASAN_LINK_FLAGS ?= -Xswiftc -use-ld=lld

sanitize: sanitize-thread sanitize-address

sanitize-thread: test-deps
	env $(SANITIZE_ENV) TSAN_OPTIONS="$(TSAN_OPTIONS_FOR_TESTS)" \
	  $(SWIFT) test --no-parallel --disable-xctest --sanitize=thread --scratch-path .build-tsan $(SWIFT_FLAGS)

sanitize-address: test-deps
	env $(SANITIZE_ENV) ASAN_OPTIONS="$(ASAN_OPTIONS_FOR_TESTS)" LSAN_OPTIONS="$(LSAN_OPTIONS_FOR_TESTS)" \
	  $(SWIFT) test --no-parallel --disable-xctest --sanitize=address --scratch-path .build-asan $(ASAN_LINK_FLAGS) $(SWIFT_FLAGS)

# valgrind memcheck of the demo, the cancellation storm, the set-up turns and the transfers' cancellations
# (StormTests, SetUpLimitTests, TransferCancellationTests, run straight from
# the test binary). Fails on any memcheck error or any "definitely lost" block.
# valgrind 3.19 dies on Swift programs before they start (it writes into libdispatch's
# read-only sigsuspend mask); $(SANITIZERS_DIR)/valgrind-sigsuspend-shim.c works around it.
LEAKS_SCRATCH ?= .build
LEAKS_ENV     ?= AC_STORM_LATENCY_MS=30000
SHIM_CC       ?= clang
VALGRIND      := valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=1 \
                 --suppressions=$(SANITIZERS_DIR)/valgrind.supp
VALGRIND_SHIM := $(LEAKS_SCRATCH)/valgrind/sigsuspend-shim.so

leaks: test-deps
	$(call apt_install,valgrind)
	$(SWIFT) build --build-tests --scratch-path $(LEAKS_SCRATCH) $(SWIFT_FLAGS)
	mkdir -p $(dir $(VALGRIND_SHIM))
	$(SHIM_CC) -shared -fPIC -O2 -o $(VALGRIND_SHIM) $(SANITIZERS_DIR)/valgrind-sigsuspend-shim.c
	LD_PRELOAD=$(CURDIR)/$(VALGRIND_SHIM) $(VALGRIND) $(LEAKS_SCRATCH)/debug/demo
	env $(LEAKS_ENV) LD_PRELOAD=$(CURDIR)/$(VALGRIND_SHIM) $(VALGRIND) \
	  $(LEAKS_SCRATCH)/debug/AsyncCurlPackageTests.xctest --testing-library swift-testing --filter "StormTests|SetUpLimitTests|TransferCancellationTests"

# The integrity soak (SoakTests) for SOAK_SECONDS per run, SOAK_ROUNDS runs in a row. One run
# must fit the test suite's 3-minute limit, so longer soaks repeat the run.
SOAK_SECONDS ?= 150
SOAK_ROUNDS  ?= 4

soak: test-deps
	$(SWIFT) build --build-tests $(SWIFT_FLAGS)
	for round in $$(seq $(SOAK_ROUNDS)); do \
	  echo "soak round $$round of $(SOAK_ROUNDS)"; \
	  AC_SOAK_SECONDS=$(SOAK_SECONDS) $(SWIFT) test --skip-build --disable-xctest $(SWIFT_FLAGS) \
	    --filter SoakTests || exit 1; \
	done

# ---- Autobahn|Testsuite (see AUTOBAHN.md) ---------------------------------------------------
# The fuzzingserver runs on 127.0.0.1 from a Python 2.7 virtualenv outside the repository
# (AUTOBAHN_VENV, created when missing from AUTOBAHN_PYTHON2); Examples/autobahn-client echoes
# its cases; the summary table comes from the report's index.json. Exit status 1 when a case
# FAILED. AUTOBAHN_CASES="1.*,9.*" runs a subset; AUTOBAHN_DEFLATE=0 offers no compression.
AUTOBAHN_SCRATCH ?= .build-release

autobahn: deps
	$(call apt_install,python3 iproute2)
	$(SWIFT) build -c release --product autobahn-client --scratch-path $(AUTOBAHN_SCRATCH) $(SWIFT_FLAGS)
	CLIENT=$(CURDIR)/$(AUTOBAHN_SCRATCH)/release/autobahn-client Examples/autobahn-client/run-autobahn.sh

clean:
	rm -rf .build
