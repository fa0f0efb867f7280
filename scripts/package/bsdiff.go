package main

// A binary diff in the manner of bsdiff: the darwin and windows binaries of an architecture
// travel as differences from the linux one. Go binaries for two operating systems hold mostly
// the same code, shifted, so the byte-wise differences of matched runs are mostly zero and
// compress far better than Brotli's own matching of the whole file does (about a third less
// per binary). The launcher applies patches (bspatch in scripts/launcher/run.js).

import (
	"bytes"
	"encoding/binary"
	"errors"
)

// suffixArray returns the suffix array of b with the empty suffix first (len(b)+1
// entries), by Larsson and Sadakane's qsufsort as bsdiff uses it.
func suffixArray(b []byte) []int32 {
	n := len(b)
	I := make([]int32, n+1)
	V := make([]int32, n+1)
	var buckets [256]int32
	for _, c := range b {
		buckets[c]++
	}
	for i := 1; i < 256; i++ {
		buckets[i] += buckets[i-1]
	}
	for i := 255; i > 0; i-- {
		buckets[i] = buckets[i-1]
	}
	buckets[0] = 0
	for i, c := range b {
		buckets[c]++
		I[buckets[c]] = int32(i)
	}
	I[0] = int32(n)
	for i, c := range b {
		V[i] = buckets[c]
	}
	V[n] = 0
	for i := 1; i < 256; i++ {
		if buckets[i] == buckets[i-1]+1 {
			I[buckets[i]] = -1
		}
	}
	I[0] = -1
	for h := int32(1); I[0] != -int32(n+1); h += h {
		var l int32
		i := int32(0)
		for i < int32(n+1) {
			if I[i] < 0 {
				l -= I[i]
				i -= I[i]
			} else {
				if l != 0 {
					I[i-l] = -l
				}
				l = V[I[i]] + 1 - i
				split(I, V, i, l, h)
				i += l
				l = 0
			}
		}
		if l != 0 {
			I[i-l] = -l
		}
	}
	for i := 0; i < n+1; i++ {
		I[V[i]] = int32(i)
	}
	return I
}

func split(I, V []int32, start, length, h int32) {
	if length < 16 {
		for k := start; k < start+length; {
			j := int32(1)
			x := V[I[k]+h]
			for i := int32(1); k+i < start+length; i++ {
				if V[I[k+i]+h] < x {
					x = V[I[k+i]+h]
					j = 0
				}
				if V[I[k+i]+h] == x {
					I[k+j], I[k+i] = I[k+i], I[k+j]
					j++
				}
			}
			for i := int32(0); i < j; i++ {
				V[I[k+i]] = k + j - 1
			}
			if j == 1 {
				I[k] = -1
			}
			k += j
		}
		return
	}
	x := V[I[start+length/2]+h]
	var jj, kk int32
	for i := start; i < start+length; i++ {
		if V[I[i]+h] < x {
			jj++
		}
		if V[I[i]+h] == x {
			kk++
		}
	}
	jj += start
	kk += jj
	i, j, k := start, int32(0), int32(0)
	for i < jj {
		if V[I[i]+h] < x {
			i++
		} else if V[I[i]+h] == x {
			I[i], I[jj+j] = I[jj+j], I[i]
			j++
		} else {
			I[i], I[kk+k] = I[kk+k], I[i]
			k++
		}
	}
	for jj+j < kk {
		if V[I[jj+j]+h] == x {
			j++
		} else {
			I[jj+j], I[kk+k] = I[kk+k], I[jj+j]
			k++
		}
	}
	if jj > start {
		split(I, V, start, jj-start, h)
	}
	for i := int32(0); i < kk-jj; i++ {
		V[I[jj+i]] = kk - 1
	}
	if jj == kk-1 {
		I[jj] = -1
	}
	if start+length > kk {
		split(I, V, kk, start+length-kk, h)
	}
}

func matchLen(a, b []byte) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// search finds the longest prefix of target that occurs in old, by binary search on the
// suffix array sa of old.
func search(sa []int32, old, target []byte) (pos, n int) {
	st, en := 0, len(old)
	for en-st >= 2 {
		x := st + (en-st)/2
		p := int(sa[x])
		if bytes.Compare(old[p:min(len(old), p+len(target))], target) < 0 {
			st = x
		} else {
			en = x
		}
	}
	x := matchLen(old[sa[st]:], target)
	y := matchLen(old[sa[en]:], target)
	if x > y {
		return int(sa[st]), x
	}
	return int(sa[en]), y
}

// patch is a bsdiff delta in three streams: control triples (add, copy, seek) as
// little-endian int32, bytewise differences for the add runs, and new bytes for the copy runs.
type patch struct {
	ctrl, diff, extra []byte
}

// differ computes deltas from one old file; its suffix array serves every new file.
type differ struct {
	old []byte
	sa  []int32
}

func newDiffer(old []byte) *differ {
	return &differ{old: old, sa: suffixArray(old)}
}

// diff computes the delta from d.old to target (Colin Percival's algorithm, bsdiff 4.3, with
// the three streams kept apart and uncompressed: the bundle compresses them).
func (d *differ) diff(target []byte) patch {
	old, sa := d.old, d.sa
	var p patch
	put := func(v int) {
		p.ctrl = binary.LittleEndian.AppendUint32(p.ctrl, uint32(int32(v)))
	}
	oldsize, newsize := len(old), len(target)
	var scan, pos, length, lastscan, lastpos, lastoffset int
	for scan < newsize {
		oldscore := 0
		scan += length
		scsc := scan
		for ; scan < newsize; scan++ {
			pos, length = search(sa, old, target[scan:])
			for ; scsc < scan+length; scsc++ {
				if scsc+lastoffset < oldsize && old[scsc+lastoffset] == target[scsc] {
					oldscore++
				}
			}
			if (length == oldscore && length != 0) || length > oldscore+8 {
				break
			}
			if scan+lastoffset < oldsize && old[scan+lastoffset] == target[scan] {
				oldscore--
			}
		}
		if length != oldscore || scan == newsize {
			s, sf, lenf := 0, 0, 0
			for i := 0; lastscan+i < scan && lastpos+i < oldsize; {
				if old[lastpos+i] == target[lastscan+i] {
					s++
				}
				i++
				if s*2-i > sf*2-lenf {
					sf, lenf = s, i
				}
			}
			lenb := 0
			if scan < newsize {
				s, sb := 0, 0
				for i := 1; scan >= lastscan+i && pos >= i; i++ {
					if old[pos-i] == target[scan-i] {
						s++
					}
					if s*2-i > sb*2-lenb {
						sb, lenb = s, i
					}
				}
			}
			if lastscan+lenf > scan-lenb {
				overlap := lastscan + lenf - (scan - lenb)
				s, ss, lens := 0, 0, 0
				for i := 0; i < overlap; i++ {
					if target[lastscan+lenf-overlap+i] == old[lastpos+lenf-overlap+i] {
						s++
					}
					if target[scan-lenb+i] == old[pos-lenb+i] {
						s--
					}
					if s > ss {
						ss, lens = s, i+1
					}
				}
				lenf += lens - overlap
				lenb -= lens
			}
			for i := 0; i < lenf; i++ {
				p.diff = append(p.diff, target[lastscan+i]-old[lastpos+i])
			}
			extra := scan - lenb - (lastscan + lenf)
			p.extra = append(p.extra, target[lastscan+lenf:lastscan+lenf+extra]...)
			put(lenf)
			put(extra)
			put(pos - lenb - (lastpos + lenf))
			lastscan, lastpos, lastoffset = scan-lenb, pos-lenb, pos-scan
		}
	}
	return p
}

// bspatch applies p to old.
func bspatch(old []byte, p patch, size int) ([]byte, error) {
	out := make([]byte, 0, size)
	var oldPos, d, e int
	for c := 0; c+12 <= len(p.ctrl); c += 12 {
		add := int(int32(binary.LittleEndian.Uint32(p.ctrl[c:])))
		cp := int(int32(binary.LittleEndian.Uint32(p.ctrl[c+4:])))
		seek := int(int32(binary.LittleEndian.Uint32(p.ctrl[c+8:])))
		if add < 0 || cp < 0 || oldPos < 0 || oldPos+add > len(old) || d+add > len(p.diff) || e+cp > len(p.extra) {
			return nil, errors.New("corrupt patch")
		}
		for i := 0; i < add; i++ {
			out = append(out, p.diff[d+i]+old[oldPos+i])
		}
		d += add
		oldPos += add
		out = append(out, p.extra[e:e+cp]...)
		e += cp
		oldPos += seek
	}
	if len(out) != size {
		return nil, errors.New("patch size mismatch")
	}
	return out, nil
}
