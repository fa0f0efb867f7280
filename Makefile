# Build, test and package the extension. Needs Go and Node (npm) only.
GO ?= go
NPM ?= npm

# npm writes this file on every install; it stands for "node_modules is installed
# from the current package-lock.json".
NODE_DEPS := node_modules/.package-lock.json

# CONTRACT.md §4: the .vsix stays under 50 MiB.
VSIX_LIMIT := 52428800

.PHONY: build build-local vsix test demo emulator measure bench clean

# The staged extension under dist/extension, exactly what the .vsix holds: five platforms
# per task, packed into one Brotli bundle per task (several minutes: Brotli at quality 11).
build:
	$(GO) run ./scripts/package -bundle

# Only this machine's platform, unpacked: what the demo and the end-to-end tests run, fast.
build-local:
	$(GO) run ./scripts/package -platforms host

$(NODE_DEPS): package.json package-lock.json
	$(NPM) ci --no-audit --no-fund

vsix: build $(NODE_DEPS)
	rm -f dist/*.vsix
	npx --no-install tfx extension create --root dist/extension --manifest-globs vss-extension.json --output-path dist/ --no-prompt
	@for f in dist/*.vsix; do \
		size=$$(wc -c < "$$f"); \
		echo "$$f $$(du -h "$$f" | cut -f1) ($$size bytes)"; \
		if [ "$$size" -ge $(VSIX_LIMIT) ]; then \
			echo "WARNING: $$f is over the 50 MiB limit the contract sets for the .vsix (see the packaging issue)"; \
		fi; \
	done

# Pinned, run from the module proxy without entering go.mod.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

test: $(NODE_DEPS) build-local
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	@unformatted="$$(gofmt -l $$($(GO) list -f '{{.Dir}}' ./...))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; exit 1; fi
	$(GO) test ./...
	node --test scripts/*/*.test.js

demo: build-local
	$(GO) run ./scripts/demo

emulator:
	$(GO) run ./cmd/pbi-emulator

# Sizes of the .vsix and the binaries, and the median wall time of a task run.
measure: vsix
	$(GO) run ./scripts/measure

# Deployment figures: detection latency and reads against a fixed 5-second loop (fake clock),
# API calls of a selective deploy by names, peak memory of a 1,000-item deploy in four parts.
bench: build-local
	PBI_FIGURES=1 $(GO) test -count=1 -run '^TestDetectionFigures$$' -v ./internal/deploy | grep -v '^[=-]'
	$(GO) test -count=1 -run '^$$' -bench 'SelectiveDeployCalls|BatchedDeployMemory' -benchtime 5x ./internal/e2e

clean:
	rm -rf dist
