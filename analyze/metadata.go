package analyze

import (
	"bytes"
	"encoding/binary"
	"encoding/xml"
	"strconv"
	"strings"

	"github.com/mediagraph/mediagraph/media"
)

// orientation finds the EXIF orientation (1–8) in an image's leading bytes:
// a JPEG's APP1 segment, a TIFF's first directory, a PNG's eXIf chunk or a
// WebP's EXIF chunk. 1 when there is none.
func orientation(format string, head []byte) int {
	switch format {
	case "jpeg":
		return jpegOrientation(head)
	case "tiff":
		return tiffOrientation(head)
	case "png":
		return pngOrientation(head)
	case "webp":
		return webpOrientation(head)
	}
	return 1
}

// jpegOrientation reads the EXIF orientation from a JPEG's APP1 segment.
func jpegOrientation(b []byte) int {
	o := 1
	media.JPEGSegments(b, func(marker byte, seg []byte) bool {
		if marker == 0xE1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			o = tiffOrientation(seg[6:])
			return false
		}
		return true
	})
	return o
}

// tiffOrientation reads tag 0x0112 of the first directory of a TIFF
// structure (EXIF data is one).
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var order binary.ByteOrder
	switch string(t[:4]) {
	case "II*\x00":
		order = binary.LittleEndian
	case "MM\x00*":
		order = binary.BigEndian
	default:
		return 1
	}
	ifd := int64(order.Uint32(t[4:]))
	if ifd < 8 || ifd+2 > int64(len(t)) {
		return 1
	}
	count := int64(order.Uint16(t[ifd:]))
	for i := int64(0); i < count; i++ {
		e := ifd + 2 + i*12
		if e+12 > int64(len(t)) {
			return 1
		}
		if order.Uint16(t[e:]) == 0x0112 {
			if o := int(order.Uint16(t[e+8:])); o >= 1 && o <= 8 && order.Uint16(t[e+2:]) == 3 {
				return o
			}
			return 1
		}
	}
	return 1
}

// pngOrientation reads an eXIf chunk that comes before the image data.
func pngOrientation(b []byte) int {
	for i := 8; i+8 <= len(b); {
		n := int64(binary.BigEndian.Uint32(b[i:]))
		typ := string(b[i+4 : i+8])
		if typ == "IDAT" || n > int64(len(b)) || int64(i)+12+n > int64(len(b)) {
			return 1
		}
		if typ == "eXIf" {
			return tiffOrientation(b[i+8 : i+8+int(n)])
		}
		i += 12 + int(n)
	}
	return 1
}

// webpChunks calls fn with the RIFF chunks of a WebP's leading bytes.
func webpChunks(b []byte, fn func(id string, data []byte) bool) {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WEBP" {
		return
	}
	for i := 12; i+8 <= len(b); {
		n := int64(binary.LittleEndian.Uint32(b[i+4:]))
		end := min(int64(len(b)), int64(i)+8+n)
		if !fn(string(b[i:i+4]), b[i+8:end]) || int64(i)+8+n > int64(len(b)) {
			return
		}
		i += 8 + int(n) + int(n&1)
	}
}

func webpOrientation(b []byte) int {
	o := 1
	webpChunks(b, func(id string, data []byte) bool {
		if id == "EXIF" {
			o = tiffOrientation(bytes.TrimPrefix(data, []byte("Exif\x00\x00")))
			return false
		}
		return true
	})
	return o
}

// webpAnimated reports whether a WebP's VP8X header has the animation flag.
func webpAnimated(b []byte) bool {
	anim := false
	webpChunks(b, func(id string, data []byte) bool {
		if id == "VP8X" && len(data) > 0 {
			anim = data[0]&0x02 != 0
		}
		return false
	})
	return anim
}

// heifSize reads the size of a HEIF or AVIF image from its leading bytes:
// the largest ispe (image spatial extents) property of meta › iprp › ipco,
// which is the primary image's (thumbnails and grid tiles are smaller), and
// whether an irot property turns it by a quarter.
func heifSize(b []byte) (w, h int, rotated, ok bool) {
	if len(b) < 12 || string(b[4:8]) != "ftyp" {
		return 0, 0, false, false
	}
	var walk func(b []byte, depth int)
	walk = func(b []byte, depth int) {
		for len(b) >= 8 && depth < 6 {
			n := int64(binary.BigEndian.Uint32(b))
			typ := string(b[4:8])
			hdr := int64(8)
			if n == 1 && len(b) >= 16 {
				n, hdr = int64(binary.BigEndian.Uint64(b[8:])), 16
			} else if n == 0 {
				n = int64(len(b))
			}
			if n < hdr || n > int64(len(b)) {
				return
			}
			p := b[hdr:n]
			switch typ {
			case "meta":
				if len(p) >= 4 {
					walk(p[4:], depth+1)
				}
			case "iprp", "ipco":
				walk(p, depth+1)
			case "ispe":
				if len(p) >= 12 {
					iw, ih := int(binary.BigEndian.Uint32(p[4:])), int(binary.BigEndian.Uint32(p[8:]))
					if iw > 0 && ih > 0 && iw <= 1<<20 && ih <= 1<<20 && int64(iw)*int64(ih) > int64(w)*int64(h) {
						w, h = iw, ih
					}
				}
			case "irot":
				if len(p) >= 1 && p[0]&1 == 1 {
					rotated = true
				}
			}
			b = b[n:]
		}
	}
	walk(b, 0)
	return w, h, rotated, w > 0
}

// svgSize reads width and height (or else the viewBox) of an SVG's root
// element, from its first 64 KiB. Lengths in absolute units are converted
// to CSS pixels; percentages and font-relative units fall back to the
// viewBox. Nothing is fetched or expanded.
func svgSize(src *source) media.Analysis {
	var an media.Analysis
	head := src.bytesAt(0, 64<<10)
	dec := xml.NewDecoder(bytes.NewReader(head))
	dec.Strict = false
	dec.Entity = map[string]string{}
	for i := 0; i < 1000; i++ {
		tok, err := dec.RawToken()
		if err != nil {
			return an
		}
		el, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if el.Name.Local != "svg" {
			return an
		}
		attr := func(name string) string {
			for _, a := range el.Attr {
				if a.Name.Local == name && a.Name.Space == "" {
					return strings.TrimSpace(a.Value)
				}
			}
			return ""
		}
		w, okw := svgLength(attr("width"))
		h, okh := svgLength(attr("height"))
		if !okw || !okh {
			f := strings.FieldsFunc(attr("viewBox"), func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
			if len(f) != 4 {
				return an
			}
			vw, err1 := strconv.ParseFloat(f[2], 64)
			vh, err2 := strconv.ParseFloat(f[3], 64)
			if err1 != nil || err2 != nil || !(vw > 0 && vw <= 1e6 && vh > 0 && vh <= 1e6) {
				return an
			}
			w, h = max(1, int(vw+0.5)), max(1, int(vh+0.5))
		}
		an.Width, an.Height = &w, &h
		return an
	}
	return an
}

var svgUnits = map[string]float64{"": 1, "px": 1, "pt": 4.0 / 3, "pc": 16, "in": 96, "cm": 96 / 2.54, "mm": 96 / 25.4, "q": 96 / 101.6}

func svgLength(v string) (int, bool) {
	i := len(v)
	for i > 0 && (v[i-1] >= 'a' && v[i-1] <= 'z' || v[i-1] >= 'A' && v[i-1] <= 'Z' || v[i-1] == '%') {
		i--
	}
	unit, ok := svgUnits[strings.ToLower(v[i:])]
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v[:i]), 64)
	if err != nil || !(f > 0) {
		return 0, false
	}
	f *= unit
	if f > 1e6 {
		return 0, false
	}
	return max(1, int(f+0.5)), true
}
