package media

import (
	"math/rand/v2"
	"testing"
)

func ip(n int) *int { return &n }

func fp(f ImageFormat) *ImageFormat { return &f }

func TestResolveVariant(t *testing.T) {
	s := &Service{Config: DefaultConfig()}
	for _, c := range []struct {
		t      ImageTransform
		mime   string
		sw, sh int
		want   string
		out    [2]int
	}{
		// INSIDE keeps the side that decides, rounded up to 8 px.
		{ImageTransform{Width: ip(640), Height: ip(640)}, "image/jpeg", 4000, 3000, "640x0-inside-q80.jpg", [2]int{640, 480}},
		{ImageTransform{Width: ip(641)}, "image/jpeg", 4000, 3000, "648x0-inside-q80.jpg", [2]int{648, 486}},
		{ImageTransform{Height: ip(300)}, "image/jpeg", 3000, 4000, "0x304-inside-q80.jpg", [2]int{228, 304}},
		// A height that gives a width on the grid is spelled by the width.
		{ImageTransform{Height: ip(480)}, "image/jpeg", 4000, 3000, "640x0-inside-q80.jpg", [2]int{640, 480}},
		// Never enlarged: a box larger than the image is the image's size.
		{ImageTransform{Width: ip(4096), Height: ip(4096)}, "image/png", 400, 300, "0x0-inside.png", [2]int{400, 300}},
		{ImageTransform{}, "image/webp", 400, 300, "0x0-inside-q80.webp", [2]int{400, 300}},
		// COVER crops to the box, cut to the image where it is smaller.
		{ImageTransform{Width: ip(640), Height: ip(640), Fit: FitCover}, "image/jpeg", 4000, 3000, "640x640-cover-q80.jpg", [2]int{640, 640}},
		{ImageTransform{Width: ip(500), Height: ip(500), Fit: FitCover}, "image/jpeg", 1001, 300, "504x300-cover-q80.jpg", [2]int{504, 300}},
		{ImageTransform{Width: ip(2000), Height: ip(100), Fit: FitCover}, "image/jpeg", 1001, 300, "1001x104-cover-q80.jpg", [2]int{1001, 104}},
		{ImageTransform{Width: ip(2000), Height: ip(2000), Fit: FitCover}, "image/jpeg", 1001, 300, "0x0-inside-q80.jpg", [2]int{1001, 300}},
		// COVER of the image's own proportions is INSIDE; so is COVER with one side.
		{ImageTransform{Width: ip(640), Height: ip(480), Fit: FitCover}, "image/jpeg", 4000, 3000, "640x0-inside-q80.jpg", [2]int{640, 480}},
		{ImageTransform{Width: ip(400), Fit: FitCover}, "image/jpeg", 4000, 3000, "400x0-inside-q80.jpg", [2]int{400, 300}},
		// CONTAIN pads to the box; without padding it is INSIDE.
		{ImageTransform{Width: ip(640), Height: ip(640), Fit: FitContain, Format: fp(FormatPNG)}, "image/jpeg", 4000, 3000, "640x640-contain.png", [2]int{640, 640}},
		{ImageTransform{Width: ip(640), Height: ip(480), Fit: FitContain}, "image/jpeg", 4000, 3000, "640x0-inside-q80.jpg", [2]int{640, 480}},
		{ImageTransform{Width: ip(800), Height: ip(800), Fit: FitContain}, "image/gif", 400, 300, "800x800-contain.png", [2]int{800, 800}},
		// Quality: nearest multiple of 5, at least 5; none for PNG.
		{ImageTransform{Width: ip(64), Quality: ip(1), Format: fp(FormatAVIF)}, "image/png", 400, 300, "64x0-inside-q5.avif", [2]int{64, 48}},
		{ImageTransform{Width: ip(64), Quality: ip(83)}, "image/jpeg", 400, 300, "64x0-inside-q85.jpg", [2]int{64, 48}},
		{ImageTransform{Width: ip(64), Quality: ip(82)}, "image/png", 400, 300, "64x0-inside.png", [2]int{64, 48}},
	} {
		v, err := s.resolveVariant(c.t, c.mime, c.sw, c.sh)
		if err != nil || v.String() != c.want {
			t.Errorf("%+v on %d×%d: %v %v, want %s", c.t, c.sw, c.sh, v, err, c.want)
			continue
		}
		if l := v.Layout(c.sw, c.sh); l.OutW != c.out[0] || l.OutH != c.out[1] {
			t.Errorf("%s on %d×%d gives %d×%d, want %v", v, c.sw, c.sh, l.OutW, l.OutH, c.out)
		}
	}
	for _, c := range []struct {
		t     ImageTransform
		field string
	}{
		{ImageTransform{Width: ip(4097)}, "transform.width"},
		{ImageTransform{Height: ip(0)}, "transform.height"},
		{ImageTransform{Width: ip(-1)}, "transform.width"},
		{ImageTransform{Quality: ip(0)}, "transform.quality"},
		{ImageTransform{Quality: ip(101)}, "transform.quality"},
		{ImageTransform{Fit: "STRETCH"}, "transform.fit"},
		{ImageTransform{Format: fp("GIF")}, "transform.format"},
		// WebP and AVIF are bounded to 4 megapixels.
		{ImageTransform{Format: fp(FormatAVIF)}, "transform"},
		{ImageTransform{Width: ip(2400), Format: fp(FormatWebP)}, "transform"},
	} {
		_, err := s.resolveVariant(c.t, "image/jpeg", 4000, 3000)
		if ErrorCode(err) != EINVALID || err.(*Error).Field != c.field {
			t.Errorf("%+v: %v, want BAD_USER_INPUT on %s", c.t, err, c.field)
		}
	}
	small := &Service{Config: Config{MaxImagePixels: 1_000_000}}
	if _, err := small.resolveVariant(ImageTransform{Width: ip(2000), Height: ip(2000), Fit: FitContain}, "image/png", 1000, 1000); ErrorCode(err) != EINVALID {
		t.Errorf("output over the pixel limit: %v", err)
	}
}

// TestVariantsAreCanonical: whatever is asked, the variant's spelling
// parses back to itself and asks for itself (so the route serves exactly
// the URLs File.url gives), and two spellings never give the same pixels
// except when they differ in format or quality.
func TestVariantsAreCanonical(t *testing.T) {
	s := &Service{Config: DefaultConfig()}
	r := rand.New(rand.NewPCG(1, 2))
	fits := []ImageFit{FitInside, FitCover, FitContain}
	side := func() *int {
		switch r.IntN(4) {
		case 0:
			return nil
		case 1:
			return ip(1 + r.IntN(MaxTransformSide))
		default:
			return ip(1 + r.IntN(600))
		}
	}
	for range 20_000 {
		sw, sh := 1+r.IntN(3000), 1+r.IntN(3000)
		if r.IntN(4) == 0 {
			sw, sh = 1+r.IntN(40), 1+r.IntN(40)
		}
		seen := map[VariantLayout]string{}
		for range 20 {
			req := ImageTransform{Width: side(), Height: side(), Fit: fits[r.IntN(3)], Format: fp(FormatPNG)}
			v, err := s.resolveVariant(req, "image/png", sw, sh)
			if err != nil {
				t.Fatalf("%+v: %v", req, err)
			}
			p, ok := parseVariantSpec(v.String())
			if !ok || p != v {
				t.Fatalf("%s does not parse back: %v %v", v, p, ok)
			}
			again, err := s.resolveVariant(v.request(), "image/png", sw, sh)
			if err != nil || again != v {
				t.Fatalf("%s on %d×%d is not canonical: resolves to %s (%v)", v, sw, sh, again, err)
			}
			l := v.Layout(sw, sh)
			if l.ScaledW > sw || l.ScaledH > sh {
				t.Fatalf("%s enlarges %d×%d to %d×%d", v, sw, sh, l.ScaledW, l.ScaledH)
			}
			if other, ok := seen[l]; ok && other != v.String() {
				t.Fatalf("%s and %s give the same pixels of %d×%d", other, v, sw, sh)
			}
			seen[l] = v.String()
		}
	}
}
