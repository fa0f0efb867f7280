// Command icon renders the extension's icon, images/extension-icon.png, from its vector
// source images/extension-icon.svg.
//
//	go run ./scripts/icon [-in images/extension-icon.svg] [-out images/extension-icon.png]
//
// It reads a small part of SVG — rect (with rx), circle and polygon, each with a solid fill
// and fill-opacity, in document order — and anything else is an error rather than silently
// ignored. Every pixel is the average of 8×8 samples, computed in integers only, so that the
// same SVG gives the same pixels on every machine (a test checks the committed PNG).
package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

func main() {
	in := flag.String("in", "images/extension-icon.svg", "the SVG source")
	out := flag.String("out", "images/extension-icon.png", "the PNG to write")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "icon:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	src, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	img, err := Render(bytes.NewReader(src))
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, img); err != nil {
		return err
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}

// samples per pixel along each axis.
const samples = 8

// unit is the fixed-point scale of coordinates: sample centres fall on whole units.
const unit = 2 * samples

// shape is one filled element in fixed-point coordinates.
type shape struct {
	inside func(x, y int64) bool
	c      color.NRGBA
}

// Render draws the SVG at its width × height in pixels.
func Render(r io.Reader) (*image.NRGBA, error) {
	dec := xml.NewDecoder(r)
	var (
		w, h   int
		shapes []shape
		seen   bool
	)
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		el, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		a := attrs{}
		for _, at := range el.Attr {
			a[at.Name.Local] = at.Value
		}
		switch el.Name.Local {
		case "svg":
			if seen {
				return nil, errors.New("nested svg elements are not supported")
			}
			seen = true
			if w, h, err = a.size(); err != nil {
				return nil, err
			}
			continue
		case "rect", "circle", "polygon":
		default:
			return nil, fmt.Errorf("element <%s> is not supported (only rect, circle and polygon)", el.Name.Local)
		}
		if !seen {
			return nil, fmt.Errorf("<%s> outside <svg>", el.Name.Local)
		}
		s, err := a.shape(el.Name.Local)
		if err != nil {
			return nil, fmt.Errorf("<%s>: %w", el.Name.Local, err)
		}
		shapes = append(shapes, s)
	}
	if !seen {
		return nil, errors.New("no <svg> element")
	}
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for py := range h {
		for px := range w {
			var sr, sg, sb, sa int64 // premultiplied sums over the samples
			for sy := range samples {
				for sx := range samples {
					x := int64(px*unit + 2*sx + 1)
					y := int64(py*unit + 2*sy + 1)
					var r, g, b, al int64 // premultiplied, 0..255 each
					for _, s := range shapes {
						if !s.inside(x, y) {
							continue
						}
						ca := int64(s.c.A)
						r = (int64(s.c.R)*ca + r*(255-ca) + 127) / 255
						g = (int64(s.c.G)*ca + g*(255-ca) + 127) / 255
						b = (int64(s.c.B)*ca + b*(255-ca) + 127) / 255
						al = (255*ca + al*(255-ca) + 127) / 255
					}
					sr, sg, sb, sa = sr+r, sg+g, sb+b, sa+al
				}
			}
			const n = samples * samples
			c := color.NRGBA{A: uint8((sa + n/2) / n)}
			if sa > 0 {
				c.R = uint8(min((sr*255+sa/2)/sa, 255))
				c.G = uint8(min((sg*255+sa/2)/sa, 255))
				c.B = uint8(min((sb*255+sa/2)/sa, 255))
			}
			img.SetNRGBA(px, py, c)
		}
	}
	return img, nil
}

type attrs map[string]string

// size reads the svg element's width and height, which must match its viewBox from 0,0.
func (a attrs) size() (int, int, error) {
	w, err1 := strconv.Atoi(a["width"])
	h, err2 := strconv.Atoi(a["height"])
	if err1 != nil || err2 != nil || w <= 0 || h <= 0 || w > 4096 || h > 4096 {
		return 0, 0, fmt.Errorf("svg width %q and height %q must be whole pixels", a["width"], a["height"])
	}
	if vb := a["viewBox"]; vb != "" && strings.Join(strings.Fields(vb), " ") != fmt.Sprintf("0 0 %d %d", w, h) {
		return 0, 0, fmt.Errorf("viewBox %q must be 0 0 width height", vb)
	}
	return w, h, nil
}

// fixed converts a coordinate to fixed-point units.
func (a attrs) fixed(name string) (int64, error) {
	v, err := strconv.ParseFloat(a[name], 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) || math.Abs(v) > 1e6 {
		return 0, fmt.Errorf("attribute %s=%q is not a number", name, a[name])
	}
	return int64(math.Round(v * unit)), nil
}

func (a attrs) fill() (color.NRGBA, error) {
	f := a["fill"]
	if len(f) != 7 || f[0] != '#' {
		return color.NRGBA{}, fmt.Errorf("fill %q must be #rrggbb", f)
	}
	v, err := strconv.ParseUint(f[1:], 16, 32)
	if err != nil {
		return color.NRGBA{}, fmt.Errorf("fill %q must be #rrggbb", f)
	}
	c := color.NRGBA{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 255}
	if o, ok := a["fill-opacity"]; ok {
		op, err := strconv.ParseFloat(o, 64)
		if err != nil || op < 0 || op > 1 {
			return color.NRGBA{}, fmt.Errorf("fill-opacity %q must be between 0 and 1", o)
		}
		c.A = uint8(math.Round(op * 255))
	}
	return c, nil
}

func (a attrs) shape(kind string) (shape, error) {
	c, err := a.fill()
	if err != nil {
		return shape{}, err
	}
	get := func(names ...string) ([]int64, error) {
		out := make([]int64, len(names))
		for i, n := range names {
			if out[i], err = a.fixed(n); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	switch kind {
	case "rect":
		if _, ok := a["rx"]; !ok {
			a["rx"] = "0"
		}
		v, err := get("x", "y", "width", "height", "rx")
		if err != nil {
			return shape{}, err
		}
		return shape{inside: roundedRect(v[0], v[1], v[2], v[3], v[4]), c: c}, nil
	case "circle":
		v, err := get("cx", "cy", "r")
		if err != nil {
			return shape{}, err
		}
		cx, cy, r := v[0], v[1], v[2]
		return shape{inside: func(x, y int64) bool { return (x-cx)*(x-cx)+(y-cy)*(y-cy) <= r*r }, c: c}, nil
	default: // polygon
		pts, err := points(a["points"])
		if err != nil {
			return shape{}, err
		}
		return shape{inside: polygon(pts), c: c}, nil
	}
}

func roundedRect(x0, y0, w, h, r int64) func(x, y int64) bool {
	r = min(r, w/2, h/2)
	return func(x, y int64) bool {
		if x < x0 || y < y0 || x > x0+w || y > y0+h {
			return false
		}
		// Distance into the nearest corner square, if in one.
		dx := max(x0+r-x, x-(x0+w-r), 0)
		dy := max(y0+r-y, y-(y0+h-r), 0)
		return dx*dx+dy*dy <= r*r
	}
}

func points(list string) ([][2]int64, error) {
	fields := strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' })
	if len(fields) < 6 || len(fields)%2 != 0 {
		return nil, fmt.Errorf("points %q must be at least three x,y pairs", list)
	}
	var pts [][2]int64
	for i := 0; i < len(fields); i += 2 {
		x, err1 := attrs{"v": fields[i]}.fixed("v")
		y, err2 := attrs{"v": fields[i+1]}.fixed("v")
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("points %q: %q,%q is not a point", list, fields[i], fields[i+1])
		}
		pts = append(pts, [2]int64{x, y})
	}
	return pts, nil
}

// polygon tests with the nonzero winding rule, SVG's default fill-rule.
func polygon(pts [][2]int64) func(x, y int64) bool {
	return func(x, y int64) bool {
		wind := 0
		for i := range pts {
			a, b := pts[i], pts[(i+1)%len(pts)]
			cross := (b[0]-a[0])*(y-a[1]) - (x-a[0])*(b[1]-a[1])
			switch {
			case a[1] <= y && b[1] > y && cross > 0:
				wind++
			case a[1] > y && b[1] <= y && cross < 0:
				wind--
			}
		}
		return wind != 0
	}
}
