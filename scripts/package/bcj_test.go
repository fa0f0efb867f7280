package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFilterX86(t *testing.T) {
	t.Parallel()
	// A call at 0 to +0x10 and a jump at 5 to -2 become absolute targets 0x15 and 8.
	code := []byte{0xE8, 0x10, 0, 0, 0, 0xE9, 0xfe, 0xff, 0xff, 0xff, 0x90}
	filterX86(code, true)
	assert.Equal(t, []byte{0xE8, 0x15, 0, 0, 0, 0xE9, 0x08, 0, 0, 0, 0x90}, code)
	filterX86(code, false)
	assert.Equal(t, []byte{0xE8, 0x10, 0, 0, 0, 0xE9, 0xfe, 0xff, 0xff, 0xff, 0x90}, code)
}

func TestFilterARM64(t *testing.T) {
	t.Parallel()
	code := make([]byte, 0x3008)
	put := func(at int, w uint32) {
		code[at], code[at+1], code[at+2], code[at+3] = byte(w), byte(w>>8), byte(w>>16), byte(w>>24)
	}
	get := func(at int) uint32 {
		return uint32(code[at]) | uint32(code[at+1])<<8 | uint32(code[at+2])<<16 | uint32(code[at+3])<<24
	}
	put(8, 0x94000010)                 // BL +0x10 words at word 2
	put(0x3000, 0x90000001|1<<29|1<<5) // ADRP x1, +5 pages at page 3 (immlo 1, immhi 1)
	put(0x3004, 0x14000010)            // B: not rewritten
	filterARM64(code, true)
	assert.Equal(t, uint32(0x94000012), get(8))
	assert.Equal(t, uint32(0x90000001|0<<29|2<<5), get(0x3000), "page 8")
	assert.Equal(t, uint32(0x14000010), get(0x3004))
	filterARM64(code, false)
	assert.Equal(t, uint32(0x94000010), get(8))
	assert.Equal(t, uint32(0x90000001|1<<29|1<<5), get(0x3000))
}

// The filters are bijections: whatever the bytes, undoing gives them back.
func TestFiltersInvert(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 300 {
		data := make([]byte, 64+n)
		for i := range data {
			data[i] = byte(r.Uint32())
			if r.IntN(3) == 0 {
				data[i] = []byte{0xE8, 0xE9, 0x94, 0x90, 0xff, 0}[r.IntN(6)]
			}
		}
		for _, kind := range []string{"x86", "arm64"} {
			f := filterSpec{Kind: kind, Start: int64(n % 7), End: int64(len(data) - n%5)}
			got := bytes.Clone(data)
			require.NoError(t, f.apply(got, true))
			require.NoError(t, f.apply(got, false))
			require.Equal(t, data, got, "%s, %d bytes", kind, len(data))
		}
	}
	assert.ErrorContains(t, filterSpec{Kind: "mips", End: 1}.apply(make([]byte, 4), true), `unknown filter "mips"`)
	assert.ErrorContains(t, filterSpec{Kind: "x86", Start: 2, End: 9}.apply(make([]byte, 4), true), "outside 4 bytes")
}

var (
	crossOnce  sync.Once
	crossBins  map[string][]byte
	crossError error
)

// crossBuild builds a tiny program for every platform, once per test binary.
func crossBuild(t *testing.T) map[string][]byte {
	t.Helper()
	gocmd := goCommand(t)
	crossOnce.Do(func() {
		root, err := os.MkdirTemp("", "pbi-crossbuild-")
		if err != nil {
			crossError = err
			return
		}
		defer os.RemoveAll(root)
		if err := os.MkdirAll(filepath.Join(root, "tasks", "hello"), 0o755); err != nil {
			crossError = err
			return
		}
		files := map[string]string{
			"go.mod":              "module example.com/fixture\n\ngo 1.22\n",
			"tasks/hello/main.go": "package main\n\nfunc main() { println(\"hello\") }\n",
		}
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(root, filepath.FromSlash(name)), []byte(content), 0o644); err != nil {
				crossError = err
				return
			}
		}
		bins := map[string][]byte{}
		for _, p := range platforms {
			name := filepath.Join(root, "out", p.Name)
			if err := goBuild(context.Background(), Options{Root: root, GoCmd: gocmd, Environ: os.Environ()},
				build{task: "tasks/hello", platform: p, output: name}); err != nil {
				crossError = err
				return
			}
			if bins[p.Name], err = os.ReadFile(name); err != nil {
				crossError = err
				return
			}
		}
		crossBins = bins
	})
	require.NoError(t, crossError)
	return crossBins
}

// TestInspect checks the header check on real executables of every platform: each is
// accepted for its own platform only, with a code section inside the file.
func TestInspect(t *testing.T) {
	t.Parallel()
	bins := crossBuild(t)
	for _, p := range platforms {
		for _, q := range platforms {
			f, err := inspect(bins[q.Name], p)
			if p != q {
				assert.Error(t, err, "a %s binary taken for %s", q.Name, p.Name)
				continue
			}
			require.NoError(t, err, p.Name)
			assert.Equal(t, map[string]string{"amd64": "x86", "arm64": "arm64"}[p.GOARCH], f.Kind)
			assert.Less(t, f.Start, f.End)
			assert.LessOrEqual(t, f.End, int64(len(bins[p.Name])))
		}
	}
	_, err := inspect([]byte("#!/bin/sh\n"), platforms[0])
	assert.ErrorContains(t, err, "linux-x64: not an ELF executable")
}
