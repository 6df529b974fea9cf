package analyze

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"regexp"
	"sort"
	"strconv"

	"github.com/mediagraph/mediagraph/media"
)

// lottie reads w, h, fr, ip and op from a Lottie animation's top level,
// token by token, stopping as soon as it has them (they come first in the
// files tools write), and after MaxJSONBytes in any case.
func (a *Analyzer) lottie(src *source) (media.Analysis, error) {
	var an media.Analysis
	dec := json.NewDecoder(io.LimitReader(src.reader(0), a.cfg.MaxJSONBytes))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return an, malformed("the Lottie file is not a JSON object")
	}
	vals := map[string]float64{}
	for dec.More() && len(vals) < 5 {
		t, err := dec.Token()
		if err != nil {
			return an, lottieError(dec, err)
		}
		key, _ := t.(string)
		switch key {
		case "w", "h", "fr", "ip", "op":
			var n json.Number
			if err := dec.Decode(&n); err != nil {
				return an, malformed("the Lottie key %q is not a number", key)
			}
			f, err := n.Float64()
			if err != nil {
				return an, malformed("the Lottie key %q is not a number", key)
			}
			vals[key] = f
		default:
			if err := skipValue(dec); err != nil {
				return an, lottieError(dec, err)
			}
		}
	}
	w, okw := vals["w"]
	h, okh := vals["h"]
	if okw && okh && w >= 1 && h >= 1 && w < 1e6 && h < 1e6 {
		wi, hi := int(w), int(h)
		an.Width, an.Height = &wi, &hi
	}
	fr, okf := vals["fr"]
	ip, oki := vals["ip"]
	op, oko := vals["op"]
	if okf && oki && oko && fr > 0 {
		an.Duration = seconds((op - ip) / fr)
	}
	return an, nil
}

func lottieError(dec *json.Decoder, err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return malformed("the Lottie JSON ends early (at byte %d)", dec.InputOffset())
	}
	return malformed("the Lottie JSON cannot be read: %v", err)
}

// skipValue skips one JSON value without keeping it.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

// pdfPages finds the largest /Count of a /Type /Pages dictionary in the
// first and last MiB: nil when there is none (the page tree is in a
// compressed object stream, say). The work is linear in the bytes read,
// whatever the content: the dictionary around each /Count is found with a
// binary search among the "<<" and ">>" of the window and is at most
// pdfDictSpan on either side, and at most pdfMaxCounts are looked at. It
// stops when ctx ends.
func pdfPages(ctx context.Context, src *source) *int {
	best := -1
	scan := func(b []byte) {
		opens, closes := indexAll(b, "<<"), indexAll(b, ">>")
		for i, m := range pdfCount.FindAllSubmatchIndex(b, pdfMaxCounts) {
			if i%256 == 0 && ctx.Err() != nil {
				return
			}
			v, err := strconv.Atoi(string(b[m[2]:m[3]]))
			if err != nil || v <= best {
				continue
			}
			// The dictionary around it must be the page tree's.
			k := sort.SearchInts(opens, m[0]) - 1
			e := sort.SearchInts(closes, m[1])
			if k < 0 || e == len(closes) || m[0]-opens[k] > pdfDictSpan || closes[e]-m[1] > pdfDictSpan {
				continue
			}
			if pdfPagesType.Match(b[opens[k]:closes[e]]) {
				best = v
			}
		}
	}
	const window = 1 << 20
	scan(src.bytesAt(0, window))
	if src.size > window {
		scan(src.bytesAt(max(window, src.size-window), window))
	}
	if best < 0 || best > 1_000_000 {
		return nil
	}
	return &best
}

// A page tree dictionary is small; a file has a handful of them.
const (
	pdfDictSpan  = 2 << 10
	pdfMaxCounts = 4096
)

// indexAll returns the offsets of every occurrence of sep in b, in order.
func indexAll(b []byte, sep string) []int {
	var out []int
	for off := 0; ; {
		i := bytes.Index(b[off:], []byte(sep))
		if i < 0 {
			return out
		}
		out = append(out, off+i)
		off += i + len(sep)
	}
}

var (
	pdfCount     = regexp.MustCompile(`/Count[\x00\t\n\f\r ]*(\d{1,7})\b`)
	pdfPagesType = regexp.MustCompile(`/Type[\x00\t\n\f\r ]*/Pages\b`)
)
