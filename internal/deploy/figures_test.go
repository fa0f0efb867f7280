package deploy

import (
	"fmt"
	"math"
	"os"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

// TestDetectionFigures prints how soon the end of a deployment is noticed and how many reads
// it costs, for 3-second, 30-second and 5-minute deployments, next to a fixed 5-second loop.
// Each case runs 25 deployments whose lengths spread evenly over ±10% of the nominal one, so
// that where the end falls between two reads varies. It runs on the fake clock (virtual time, no
// machine noise) against the in-process emulator, whose steps take unequal times (items with
// data twice as long as reports), so the pacing cannot simply extrapolate.
//
//	PBI_FIGURES=1 go test -run TestDetectionFigures -v ./internal/deploy   (make bench)
func TestDetectionFigures(t *testing.T) {
	if os.Getenv("PBI_FIGURES") == "" {
		t.Skip("figures, not a check: set PBI_FIGURES=1 (make bench)")
	}
	const runs = 25
	fmt.Printf("%-6s %-9s %14s %14s %12s %12s\n", "case", "pacing", "latency p50", "latency max", "reads p50", "reads max")
	for _, c := range detectionCases {
		for _, pacing := range []struct {
			name      string
			intervals []time.Duration
		}{{"adaptive", nil}, {"fixed 5s", []time.Duration{5 * time.Second}}} {
			var lat []time.Duration
			var reads []int
			for i := range runs {
				v := c
				// Golden-ratio steps spread the lengths evenly, whatever the read interval.
				frac := math.Mod(float64(i)*0.6180339887, 1)
				v.duration = time.Duration(float64(c.duration) * (0.9 + 0.2*frac))
				synctest.Test(t, func(t *testing.T) {
					d := detectOnce(t, v, pacing.intervals)
					lat = append(lat, d.latency)
					reads = append(reads, d.reads)
				})
			}
			slices.Sort(lat)
			slices.Sort(reads)
			fmt.Printf("%-6s %-9s %14s %14s %12d %12d\n", c.name, pacing.name,
				lat[runs/2].Round(time.Millisecond), lat[runs-1].Round(time.Millisecond), reads[runs/2], reads[runs-1])
		}
	}
}
