package main

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCommittedIconIsRendered: the committed PNG is exactly what the committed SVG renders to
// (pixels, not bytes: PNG encoders may compress differently between Go versions).
func TestCommittedIconIsRendered(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(filepath.Join("..", "..", "images", "extension-icon.svg"))
	require.NoError(t, err)
	want, err := Render(bytes.NewReader(src))
	require.NoError(t, err)
	f, err := os.Open(filepath.Join("..", "..", "images", "extension-icon.png"))
	require.NoError(t, err)
	defer f.Close()
	got, err := png.Decode(f)
	require.NoError(t, err)
	require.Equal(t, image.Rect(0, 0, 128, 128), got.Bounds(), "the Marketplace wants 128×128")
	for y := range 128 {
		for x := range 128 {
			if c := color.NRGBAModel.Convert(got.At(x, y)); c != want.NRGBAAt(x, y) {
				t.Fatalf("pixel %d,%d is %v, the SVG renders %v: run make icon", x, y, c, want.NRGBAAt(x, y))
			}
		}
	}
}

func TestRenderShapes(t *testing.T) {
	t.Parallel()
	img, err := Render(strings.NewReader(`<svg width="8" height="8" viewBox="0 0 8 8">
		<rect x="0" y="0" width="8" height="8" fill="#000000"/>
		<rect x="0" y="0" width="4" height="4" fill="#ff0000" fill-opacity="0.5"/>
		<circle cx="6" cy="6" r="2" fill="#00ff00"/>
		<polygon points="4,0 8,0 8,4" fill="#0000ff"/>
	</svg>`))
	require.NoError(t, err)
	assert.Equal(t, color.NRGBA{128, 0, 0, 255}, img.NRGBAAt(1, 1), "half red over black")
	assert.Equal(t, color.NRGBA{0, 0, 0, 255}, img.NRGBAAt(1, 6))
	assert.Equal(t, color.NRGBA{0, 255, 0, 255}, img.NRGBAAt(5, 5), "inside the circle")
	assert.Equal(t, color.NRGBA{0, 0, 255, 255}, img.NRGBAAt(7, 0), "inside the triangle")
	edge := img.NRGBAAt(4, 0) // the triangle's diagonal halves it
	assert.Equal(t, uint8(255), edge.A)
	assert.Less(t, edge.B, uint8(255))
	assert.Greater(t, edge.B, uint8(0))

	round, err := Render(strings.NewReader(`<svg width="16" height="16"><rect x="0" y="0" width="16" height="16" rx="8" fill="#ffffff"/></svg>`))
	require.NoError(t, err)
	assert.Equal(t, uint8(0), round.NRGBAAt(0, 0).A, "corner cut off")
	assert.Equal(t, uint8(255), round.NRGBAAt(8, 8).A)
}

func TestRenderRefusesWhatItCannotDraw(t *testing.T) {
	t.Parallel()
	for src, want := range map[string]string{
		`<svg width="8" height="8"><path d="M0 0"/></svg>`:                             "element <path> is not supported",
		`<svg width="8" height="8"><rect x="0" y="0" width="1" height="1"/></svg>`:     `fill "" must be #rrggbb`,
		`<svg width="8" height="8"><circle cx="a" cy="0" r="1" fill="#000000"/></svg>`: "cx=\"a\" is not a number",
		`<svg width="8" height="8"><polygon points="0,0 1,1" fill="#000000"/></svg>`:   "at least three",
		`<svg width="8" height="8" viewBox="0 0 16 16"></svg>`:                         "viewBox",
		`<rect x="0" y="0" width="1" height="1" fill="#000000"/>`:                      "outside <svg>",
		`<g/>`: "not supported",
	} {
		_, err := Render(strings.NewReader(src))
		assert.ErrorContains(t, err, want, src)
	}
}
