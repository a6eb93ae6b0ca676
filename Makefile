# AsyncCurl — build, demo and test on a fresh Debian machine with Swift.
#
#   make demo   installs what is missing, then runs Examples/demo against an embedded server
#   make test   installs what is missing, then runs every test
#
# Debian packages are installed only when missing; `apt-get update` runs once before the first
# install, as a fresh machine needs.

SWIFT       ?= swift
SWIFT_FLAGS ?=

# What building needs, and what the tests' real peers need.
BUILD_PACKAGES := libcurl4-openssl-dev pkg-config
TEST_PACKAGES  :=

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build demo test deps test-deps clean

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

test: test-deps
	$(SWIFT) test $(SWIFT_FLAGS)

clean:
	rm -rf .build
