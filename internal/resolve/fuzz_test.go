package resolve

import (
	"strconv"
	"strings"
	"testing"
)

// stageTokens are the spellings of each stage order that Stage accepts (names in any case).
var stageTokens = [][]string{{"0", "Development"}, {"1", "Test"}, {"2", "Production"}}

// isStage reports whether v (already trimmed) names stage order.
func isStage(v string, order int) bool {
	return v == stageTokens[order][0] || strings.EqualFold(v, stageTokens[order][1])
}

// FuzzStage checks stage inputs: a stage is accepted exactly when the trimmed value is its
// number or its name in any case, and an error says what was expected and quotes the value.
func FuzzStage(f *testing.F) {
	for _, s := range []string{"", "0", "1", "2", "3", "-1", "01", " 1 ", "+1", "1.0", "Development", "TEST", " production\n", "Dev", "Staging", "Test (Backward)", "\xffTest", "Teſt", "Ｔｅｓｔ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Stage(s)
		v := strings.TrimSpace(s)
		want := -1
		for order := range stageTokens {
			if isStage(v, order) {
				want = order
			}
		}
		if want < 0 {
			if err == nil {
				t.Fatalf("Stage(%q) = %d, want an error", s, got)
			}
			if msg := err.Error(); !strings.Contains(msg, "Development, Test or Production") || !strings.Contains(msg, strconv.Quote(v)) {
				t.Fatalf("Stage(%q) error %q does not say what was expected and what was given", s, msg)
			}
			return
		}
		if err != nil || got != want {
			t.Fatalf("Stage(%q) = %d, %v; want %d", s, got, err, want)
		}
		if !isStage(v, got) && !strings.EqualFold(StageName(got), v) {
			t.Fatalf("Stage(%q) = %d (%s)", s, got, StageName(got))
		}
	})
}

// FuzzDeployTarget checks the deploy task's stageOrder: it never panics; it accepts exactly a
// stage optionally followed by "(Backward)" (any case), where a stage to deploy from exists;
// the source is the neighbouring stage on the side the direction says; and an error names
// what was expected and quotes the value.
func FuzzDeployTarget(f *testing.F) {
	for _, s := range []string{"", "Test", "Production", "Development (Backward)", "Test (Backward)", "test(BACKWARD)", "1", "2",
		"0", "Development", "Production (Backward)", "2 (Backward)", "(Backward)", "Test (Backward) (Backward)", "Test (Backward) please",
		"Staging", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff(backward)", "İİİİİİİİİİİİ(Backward)", "Test (Bacǩward)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := DeployTarget(s)

		// The oracle: "<stage>" or "<stage> (backward)", compared without regard to ASCII case.
		v := strings.TrimSpace(s)
		backward := false
		const marker = "(backward)"
		if len(v) >= len(marker) && strings.EqualFold(v[len(v)-len(marker):], marker) && isASCII(v[len(v)-len(marker):]) {
			backward = true
			v = strings.TrimSpace(v[:len(v)-len(marker)])
		}
		want := Direction{Target: -1, Backward: backward}
		for order := range stageTokens {
			if isStage(v, order) {
				want.Target = order
			}
		}
		if backward {
			want.Source = want.Target + 1
		} else {
			want.Source = want.Target - 1
		}
		valid := want.Target >= 0 && want.Source >= 0 && want.Source <= 2

		if !valid {
			if err == nil {
				t.Fatalf("DeployTarget(%q) = %+v, want an error", s, d)
			}
			if msg := err.Error(); !strings.Contains(msg, "Test, Production, Development (Backward) or Test (Backward)") || !strings.Contains(msg, strconv.Quote(s)) {
				t.Fatalf("DeployTarget(%q) error %q does not say what was expected and what was given", s, msg)
			}
			return
		}
		if err != nil || d != want {
			t.Fatalf("DeployTarget(%q) = %+v, %v; want %+v", s, d, err, want)
		}
		if d.Source == d.Target || d.Source-d.Target != map[bool]int{true: 1, false: -1}[d.Backward] {
			t.Fatalf("DeployTarget(%q) = %+v: source and target are not neighbours in that direction", s, d)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
