#!/bin/sh
# Runs every Go fuzz target of the module for a short while (FUZZTIME, default 5s), one target
# after another with one worker (FUZZPARALLEL, default 1), so `make test` also explores a little
# beyond the committed seed corpora (testdata/fuzz/<FuzzName>/). A failure stops the run; the
# fuzzer writes the failing input under the package's testdata/fuzz/, where it becomes a
# regression seed once the bug is fixed.
#
#   FUZZTIME=10m FUZZTIMEOUT=20m sh scripts/fuzz.sh    # the long run issue 6 asks for, per target
#
# FUZZTIMEOUT is go test's -timeout; keep it above FUZZTIME (its default, 10m, would end a 10m
# run with "context deadline exceeded").
set -eu
GO="${GO:-go}"
FUZZTIME="${FUZZTIME:-5s}"
FUZZPARALLEL="${FUZZPARALLEL:-1}"
FUZZTIMEOUT="${FUZZTIMEOUT:-10m}"

cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$GO" list -f '{{.ImportPath}} {{.Dir}}' ./... | while read -r pkg dir; do
	targets=$(cat "$dir"/*_test.go 2>/dev/null | sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*\*testing\.F).*/\1/p')
	for target in $targets; do
		echo "fuzz $pkg $target ($FUZZTIME)"
		for try in 1 2 3; do
			if "$GO" test -run '^$' -fuzz "^$target\$" -fuzztime "$FUZZTIME" -parallel "$FUZZPARALLEL" -timeout "$FUZZTIMEOUT" "$pkg" >"$log" 2>&1; then
				cat "$log"
				break
			fi
			cat "$log"
			# Go's fuzzer sometimes ends a short run with a bare "context deadline exceeded" when
			# the fuzz time runs out while a worker is busy (a loaded machine): no input failed
			# and none was written. Run such a target again (three tries); any other failure stops here.
			if [ "$try" = 3 ] || grep -q "Failing input written" "$log" || ! grep -q "^    context deadline exceeded" "$log"; then
				exit 1
			fi
			echo "fuzz $target: the run ended with Go's spurious deadline error (no failing input); running it again"
		done
	done
done
