package main

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSuffixArray(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	inputs := [][]byte{nil, []byte("a"), []byte("banana"), []byte("mississippi"), bytes.Repeat([]byte{0}, 100), bytes.Repeat([]byte("ab"), 50)}
	for n := range 50 {
		b := make([]byte, n*7)
		for i := range b {
			b[i] = byte(r.IntN(3 + n%5)) // small alphabets: many repeats
		}
		inputs = append(inputs, b)
	}
	for _, b := range inputs {
		want := make([]int32, len(b)+1)
		for i := range want {
			want[i] = int32(i)
		}
		slices.SortFunc(want, func(x, y int32) int { return bytes.Compare(b[x:], b[y:]) })
		assert.Equal(t, want, suffixArray(b), "%q", b)
	}
}

// mutate makes a "new version" of old: runs inserted, removed and changed, and a shift in
// every 4-byte word of a region, as code moved by the linker looks.
func mutate(r *rand.Rand, old []byte) []byte {
	var out []byte
	for i := 0; i < len(old); {
		n := min(len(old)-i, 1+r.IntN(200))
		chunk := bytes.Clone(old[i : i+n])
		switch r.IntN(6) {
		case 0:
			chunk = append(chunk, make([]byte, r.IntN(20))...)
		case 1:
			chunk = chunk[:n/2]
		case 2:
			for j := 0; j+4 <= len(chunk); j += 4 {
				chunk[j] += 16
			}
		}
		out = append(out, chunk...)
		i += n
	}
	return out
}

func TestBsdiffRoundTrip(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	old := make([]byte, 20000)
	for i := range old {
		old[i] = byte(r.IntN(16))
	}
	d := newDiffer(old)
	for range 10 {
		target := mutate(r, old)
		p := d.diff(target)
		got, err := bspatch(old, p, len(target))
		require.NoError(t, err)
		require.Equal(t, target, got)
		assert.Less(t, len(p.extra), len(target)/2, "most bytes come from matches")
	}
	// Edge cases: empty files either side.
	for _, c := range []struct{ old, target []byte }{{nil, []byte("new")}, {[]byte("old"), nil}, {nil, nil}} {
		p := newDiffer(c.old).diff(c.target)
		got, err := bspatch(c.old, p, len(c.target))
		require.NoError(t, err)
		assert.Equal(t, len(c.target), len(got))
	}
}

func TestBspatchRefusesDamage(t *testing.T) {
	t.Parallel()
	old := []byte("the quick brown fox jumps over the lazy dog")
	target := []byte("the quick brown cat jumps over the lazy dog!")
	p := newDiffer(old).diff(target)
	_, err := bspatch(old, p, len(target)+1)
	assert.ErrorContains(t, err, "size")
	bad := p
	bad.diff = bad.diff[:1]
	_, err = bspatch(old, bad, len(target))
	assert.ErrorContains(t, err, "corrupt")
}
