package deploy_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pbi-pipelines/azdo-extension/internal/deploy"
	"github.com/pbi-pipelines/azdo-extension/internal/powerbi"
	"github.com/pbi-pipelines/azdo-extension/internal/resolve"
)

// FuzzMatch checks selective deployment's matching of names, ids and * / ? wildcards against
// the source stage's items (one name per line of names) through the exported Match only. It
// never panics; a wildcard entry selects exactly the items a reference matcher selects (whole
// name, any case, ? one character, * any run); an entry without wildcards selects the item
// whose trimmed name equals it in any case, or fails as ambiguous when two do; "*" selects
// every item; results hold each item once, only of the kind asked for, in stage order; an
// entry that matches nothing is a *deploy.SelectionError naming the stage and the kind.
func FuzzMatch(f *testing.F) {
	for _, s := range []struct {
		names, entry string
		kind         uint8
	}{
		{"Sales\nSales [EU]\nFinance", "Sales*", 2},
		{"Sales\nSales [EU]\nFinance", "F?nance", 2},
		{"Sales\nSales [EU]\nFinance", "sales [eu]", 3},
		{"Dup\nDup", "Dup", 0},
		{"Dup\ndup \nOther", "D*", 1},
		{"a.b\n(x)+\n^$", "(x)+", 4},
		{"a.b\naxb", "a.b", 2},
		{"Umsatz ÄÖÜ\nΣίσυφος\nK-Wert", "σίσυφοσ", 2},
		{"K-Wert", "\u212a-wert", 2},
		{"  padded  \nx", "padded", 2},
		{"  padded  \nx", "padded*", 2},
		{"", "*", 2},
		{"\xff\xfe\nok", "?\xfe", 2},
		{"0a6a0a67-61d5-4b5c-9a0e-7b0c3ad0a001", "0a6a0a67-61d5-4b5c-9a0e-7b0c3ad0a001", 2},
		{"x", "00000000-0000-4000-8000-000000000000", 2},
		{strings.Repeat("n", 300) + "\n" + strings.Repeat("nm", 150), strings.Repeat("*n", 40), 2},
		{"a\nb\nc\nd\ne\nf\ng\nh\ni\nj", "k*", 2},
	} {
		f.Add(s.names, s.entry, s.kind)
	}
	f.Fuzz(func(t *testing.T, names, entry string, kind uint8) {
		k := deploy.Kinds[int(kind)%len(deploy.Kinds)]
		var src powerbi.StageArtifacts
		field := artifactsOf(&src, k.Input)
		if field == nil {
			t.Skipf("no StageArtifacts field for kind %q", k.Input)
		}
		var items []powerbi.Artifact
		for i, n := range strings.Split(names, "\n") {
			items = append(items, powerbi.Artifact{ArtifactID: fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i), ArtifactDisplayName: n})
		}
		*field = items
		// The same names under another kind, with other ids: never selected by this kind's entries.
		other := deploy.Kinds[(int(kind)+1)%len(deploy.Kinds)]
		if f := artifactsOf(&src, other.Input); f != nil && other != k {
			for i, n := range strings.Split(names, "\n") {
				*f = append(*f, powerbi.Artifact{ArtifactID: fmt.Sprintf("%08x-1111-4000-8000-%012x", i, i), ArtifactDisplayName: n})
			}
		}

		match := func(entries ...string) ([]string, error) {
			t.Helper()
			got, err := deploy.Match(deploy.Selection{k.Input: entries}, &src, "Development")
			if err != nil {
				var se *deploy.SelectionError
				if !errors.As(err, &se) || !strings.Contains(err.Error(), "Development") || !strings.Contains(err.Error(), k.Input) {
					t.Fatalf("Match(%q) error %v: want a *SelectionError naming the stage and %s", entries, err, k.Input)
				}
				if got != nil {
					t.Fatalf("Match(%q) returned items with an error", entries)
				}
				return nil, err
			}
			var ids []string
			for _, it := range got {
				if it.Kind != k {
					t.Fatalf("Match(%q) returned a %s", entries, it.Kind.Singular)
				}
				ids = append(ids, it.ID)
			}
			if !isEachOnce(ids, items) {
				t.Fatalf("Match(%q) = %q: not each item of the stage once", entries, ids)
			}
			return ids, nil
		}
		all := idsWhere(items, func(powerbi.Artifact) bool { return true })

		// The fuzzed entry against the reference.
		e := strings.TrimSpace(entry)
		var want []string
		var wantErr bool
		switch {
		case e == "":
			// ListInput never yields an empty entry; only "no panic" is asked of it.
			_, _ = match(entry)
			goto star
		case resolve.IsID(e):
			want = idsWhere(items, func(a powerbi.Artifact) bool { return strings.EqualFold(a.ArtifactID, e) })
		case strings.ContainsAny(e, "*?"):
			want = idsWhere(items, func(a powerbi.Artifact) bool { return glob(e, a.ArtifactDisplayName) })
		default:
			want = idsWhere(items, func(a powerbi.Artifact) bool { return strings.EqualFold(strings.TrimSpace(a.ArtifactDisplayName), e) })
			wantErr = len(want) > 1 // ambiguous
		}
		if got, err := match(entry); wantErr || len(want) == 0 {
			if err == nil {
				t.Fatalf("Match(%q) in %q = %q, want an error", entry, names, got)
			}
		} else if err != nil || !slices.Equal(got, want) {
			t.Fatalf("Match(%q) in %q = %q, %v; want %q", entry, names, got, err, want)
		}

	star:
		// "*" selects everything; combined with other entries, still each item once.
		if got, err := match("*"); err != nil || !slices.Equal(got, all) {
			t.Fatalf("Match(*) in %q = %q, %v; want %q", names, got, err, all)
		}
		if got, err := match("*", entry, "*", "?*"); err == nil && len(got) != len(all) {
			t.Fatalf("Match(*, %q, *) in %q = %q: want every item once", entry, names, got)
		}

		// Every item's own name (when it is not an id and has no wildcard) selects it, or
		// fails as ambiguous when another item's name is the same in any case.
		for _, it := range items {
			n := strings.TrimSpace(it.ArtifactDisplayName)
			if n == "" || resolve.IsID(n) || strings.ContainsAny(n, "*?") {
				continue
			}
			same := idsWhere(items, func(a powerbi.Artifact) bool { return strings.EqualFold(strings.TrimSpace(a.ArtifactDisplayName), n) })
			got, err := match(it.ArtifactDisplayName)
			switch {
			case len(same) > 1 && (err == nil || !strings.Contains(err.Error(), "items are named")):
				t.Fatalf("Match(%q) in %q = %q, %v; want an ambiguity error", n, names, got, err)
			case len(same) == 1 && (err != nil || !slices.Equal(got, []string{it.ArtifactID})):
				t.Fatalf("Match(%q) in %q = %q, %v; want %s", n, names, got, err, it.ArtifactID)
			}
		}
	})
}

// artifactsOf returns the field of a that holds the items of the kind with that input name.
func artifactsOf(a *powerbi.StageArtifacts, input string) *[]powerbi.Artifact {
	return map[string]*[]powerbi.Artifact{
		"dataflows": &a.Dataflows, "datamarts": &a.Datamarts, "datasets": &a.Datasets,
		"reports": &a.Reports, "dashboards": &a.Dashboards,
	}[input]
}

func idsWhere(items []powerbi.Artifact, keep func(powerbi.Artifact) bool) []string {
	var ids []string
	for _, a := range items {
		if keep(a) {
			ids = append(ids, a.ArtifactID)
		}
	}
	return ids
}

// isEachOnce reports whether ids are distinct ids of items. Items of one entry come in
// stage order, but a later entry may add earlier items, so only distinctness and membership
// are checked across entries.
func isEachOnce(ids []string, items []powerbi.Artifact) bool {
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] || !slices.ContainsFunc(items, func(a powerbi.Artifact) bool { return a.ArtifactID == id }) {
			return false
		}
		seen[id] = true
	}
	return true
}

// glob is the reference matcher: p matches the whole of name, comparing characters by Unicode
// simple case folding, '?' matching one character and '*' any run (invalid UTF-8 bytes are one
// U+FFFD character each).
func glob(p, name string) bool {
	nr := []rune(name)
	// ok[j]: the pattern so far matches nr[:j].
	ok := make([]bool, len(nr)+1)
	ok[0] = true
	for _, c := range p {
		next := make([]bool, len(nr)+1)
		for j := 0; j <= len(nr); j++ {
			switch {
			case c == '*':
				next[j] = ok[j] || (j > 0 && next[j-1])
			case j == 0:
			case c == '?':
				next[j] = ok[j-1]
			default:
				next[j] = ok[j-1] && strings.EqualFold(string(c), string(nr[j-1]))
			}
		}
		ok = next
	}
	return ok[len(nr)]
}
