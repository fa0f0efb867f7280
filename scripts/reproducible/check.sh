#!/bin/sh
# Proves that the published build is reproducible: two builds of this source give
# byte-identical task binaries and bundles. Each build runs from its own copy of the source
# (so no path leaks in) with an empty Go build cache of its own (so nothing is reused), and
# the two staged extensions are compared file by file. Brotli quality 1 keeps it to the
# compile time; the format is the one make build uses.
#   sh scripts/reproducible/check.sh        (make reproducible)
set -eu
GO=${GO:-go}
root=$(pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/pbi-repro-XXXXXX")
trap 'rm -rf "$work"' EXIT

for n in 1 2; do
	mkdir -p "$work/src$n"
	# The source as a fresh checkout has it: no build output, no node_modules, no git.
	tar -C "$root" --exclude=./dist --exclude=./node_modules --exclude=./.git -cf - . | tar -C "$work/src$n" -xf -
	start=$(date +%s)
	(cd "$work/src$n" && GOCACHE="$work/cache$n" "$GO" run ./scripts/package -bundle -quality 1 -out "$work/out$n" >/dev/null)
	echo "build $n (source in $work/src$n, empty GOCACHE): $(($(date +%s) - start)) s"
done

diff -r "$work/out1" "$work/out2"
files=$(find "$work/out1" -type f | wc -l)
echo "identical: $files files; the binaries (sha256 from bundle.json):"
for idx in "$work"/out1/tasks/*/bin/bundle.json; do
	task=$(basename "$(dirname "$(dirname "$idx")")")
	sed -n 's/.*"platform": "\(.*\)",/\1/p; s/.*"sha256": "\(.*\)",/\1/p' "$idx" | paste - - | sed "s|^|  $task |"
done
