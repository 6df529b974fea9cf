package media

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Fuzz targets for what clients send that the domain parses. `make fuzz`
// explores each for a while; `go test` runs the seeds and the corpus in
// testdata/fuzz (a crash found becomes a file there).

func FuzzSanitizeName(f *testing.F) {
	for _, s := range []string{"photo.jpg", `C:\a\b.png`, "../../etc/passwd", "evil\u202egpj.exe", "é.png", "e\u0301.png",
		strings.Repeat("ü", 200) + ".jpeg", " . ", "a\x00b", "\xff\xfe.bin"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		name, err := SanitizeName("name", in)
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("%q: %v", in, err)
			}
			return
		}
		switch {
		case !utf8.ValidString(name), len(name) > MaxNameBytes, name == "", name == ".", name == "..",
			strings.ContainsAny(name, `/\`), strings.IndexFunc(name, isInvisible) >= 0, !norm.NFC.IsNormalString(name):
			t.Fatalf("%q → unsafe name %q", in, name)
		}
		if again, err := SanitizeName("name", name); err != nil || again != name {
			t.Fatalf("%q → %q → %q, %v: not stable", in, name, again, err)
		}
	})
}

func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/", "", "a/b", "/a//b/", "/a/../b", `\x`, "/é/", "/e\u0301/", strings.Repeat("/a", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		p, err := NormalizePath("path", in)
		if err != nil {
			return
		}
		if !strings.HasPrefix(p, "/") || !strings.HasSuffix(p, "/") || strings.Contains(p, "//") || strings.Contains(p, "/../") ||
			strings.Contains(p, "/./") || len(p) > MaxPathBytes+2 || !norm.NFC.IsNormalString(p) {
			t.Fatalf("%q → %q", in, p)
		}
		if again, err := NormalizePath("path", p); err != nil || again != p {
			t.Fatalf("%q → %q → %q: not stable", in, p, again)
		}
	})
}

func FuzzNormalizeTags(f *testing.F) {
	f.Add("Red, green", "sea")
	f.Fuzz(func(t *testing.T, a, b string) {
		tags, err := NormalizeTags("tags", []string{a, b, a})
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, tg := range tags {
			if tg == "" || seen[tg] || strings.Contains(tg, ",") || tg != strings.ToLower(tg) || len(tg) > maxTagBytes {
				t.Fatalf("%q %q → %q", a, b, tags)
			}
			seen[tg] = true
		}
	})
}

func FuzzBase64Content(f *testing.F) {
	for _, s := range []string{"aGVsbG8=", "data:image/png;base64,iVBORw0KGgo=", "data:,x", "====", "a", "aGVsbG8", "ab=c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r, size, _, err := Base64Content("data", in)
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("%q: %v", in, err)
			}
			return
		}
		b, err := io.ReadAll(r)
		if err != nil || int64(len(b)) != size {
			t.Fatalf("%q: read %d bytes (%v), declared %d", in, len(b), err, size)
		}
	})
}

func FuzzFileCursor(f *testing.F) {
	c := &FileConnection{query: FileQuery{Order: FileOrder{Field: OrderName}}, fingerprint: "abc"}
	f.Add(c.Cursor(&File{ID: NewID(PrefixFile, time.Unix(0, 0)), Name: "a.png"}))
	f.Add("e30")
	f.Add("!!")
	f.Fuzz(func(t *testing.T, in string) {
		k, err := c.decodeCursor("after", in)
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("%q: %v", in, err)
			}
			return
		}
		if !k.ID.Valid(PrefixFile) || strings.ContainsRune(k.Name, 0) {
			t.Fatalf("%q decoded to %+v", in, k)
		}
	})
}

func FuzzFileFilter(f *testing.F) {
	f.Add(`{"Path":"/a/","TagsAny":["x"],"Types":["IMAGE"],"MimeTypes":["image/png"]}`)
	f.Add(`{"PathPrefix":"/../","NameContains":"\u0000","Trashed":"MAYBE"}`)
	f.Fuzz(func(t *testing.T, in string) {
		var ff FileFilter
		if json.Unmarshal([]byte(in), &ff) != nil {
			return
		}
		if err := normalizeFilter(&ff); err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("%q: %v", in, err)
			}
			return
		}
		if ff.Trashed != TrashExclude && ff.Trashed != TrashOnly && ff.Trashed != TrashInclude {
			t.Fatalf("%q: trashed %q", in, ff.Trashed)
		}
		for _, p := range []*string{ff.Path, ff.PathPrefix} {
			if p != nil && !strings.HasSuffix(*p, "/") {
				t.Fatalf("%q: path %q", in, *p)
			}
		}
	})
}

func FuzzThumbnailBox(f *testing.F) {
	for _, s := range []string{"256x256", "128x0", "0256x256", "+256x256", "-0x256", "1e3x0", "x", "99999999999999999999x1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		w, h, ok := parseThumbnailBox(in)
		if ok && boxName(w, h) != in {
			t.Fatalf("%q accepted as %dx%d: not the canonical spelling", in, w, h)
		}
	})
}

func FuzzVariantSpec(f *testing.F) {
	for _, s := range []string{"640x480-cover-q80.webp", "640x0-inside-q80.jpg", "0x0-inside.png", "0640x0-inside-q80.jpg",
		"640x0-INSIDE-q80.jpg", "640x0-inside-q080.jpg", "640x0-inside-q80.JPG", "640x0-inside-q80.jpg.png", "4097x0-inside.png", "-0x0-inside.png"} {
		f.Add(s, 4000, 3000)
	}
	svc := &Service{Config: DefaultConfig()}
	f.Fuzz(func(t *testing.T, in string, sw, sh int) {
		v, ok := parseVariantSpec(in)
		if ok && v.String() != in {
			t.Fatalf("%q accepted as %s: not the one spelling", in, v)
		}
		if !ok || sw < 1 || sh < 1 || sw > 100_000 || sh > 100_000 {
			return
		}
		// Any spelling resolves without trouble, and never enlarges.
		if c, err := svc.resolveVariant(v.request(), "image/png", sw, sh); err == nil {
			if l := c.Layout(sw, sh); l.ScaledW > sw || l.ScaledH > sh || l.OutW > max(sw, MaxTransformSide) || l.OutH > max(sh, MaxTransformSide) {
				t.Fatalf("%s on %d×%d: %+v", c, sw, sh, l)
			}
		}
	})
}

func FuzzJPEGLocation(f *testing.F) {
	f.Add([]byte("\xFF\xD8\xFF\xE1\x00\x10Exif\x00\x00II*\x00\x08\x00\x00\x00"))
	f.Add([]byte("\xFF\xD8\xFF\xFF\xFF\xE1\x00\x04ab\xFF\xDA"))
	f.Fuzz(func(t *testing.T, in []byte) {
		b := bytes.Clone(in)
		stripJPEGLocation(b)
		if len(b) != len(in) {
			t.Fatal("the length changed")
		}
		JPEGSegments(in, func(marker byte, payload []byte) bool { return len(payload) >= 0 })
	})
}

func FuzzSearch(f *testing.F) {
	for _, s := range []string{"invoice 2025", `"a" OR 1=1`, "a & !b | (c):*", "NEAR(a b)", "{name} : x", "é e\u0301", "\x00", "  ", strings.Repeat("ab ", 20)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := normalizeSearch(&in)
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("%q: %v", in, err)
			}
			return
		}
		if s == nil {
			if len(SearchWords(in)) != 0 {
				t.Fatalf("%q: words dropped", in)
			}
			return
		}
		words := strings.Split(*s, " ")
		if len(words) > MaxSearchWords || len(*s) > 4*MaxSearchBytes {
			t.Fatalf("%q → %q", in, *s)
		}
		for _, w := range words {
			// Nothing a query language of either database reads as syntax.
			if w == "" || strings.ContainsAny(w, `'"&|!():*\{}-^ `+"\x00") || strings.IndexFunc(w, func(r rune) bool {
				return !unicode.IsLetter(r) && !unicode.IsNumber(r) && !unicode.IsMark(r)
			}) >= 0 || strings.IndexFunc(w, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsNumber(r) }) < 0 {
				t.Fatalf("%q → word %q", in, w)
			}
		}
		if again, err := normalizeSearch(s); err != nil || *again != *s {
			t.Fatalf("%q → %q → %v, %v: not stable", in, *s, again, err)
		}
	})
}

func FuzzExternalID(f *testing.F) {
	for _, s := range []string{" crm-1 ", "", "a\tb", "evil\u202egpj", "e\u0301", strings.Repeat("é", 256), "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		id, err := NormalizeExternalID("externalId", in)
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("%q: %v", in, err)
			}
			return
		}
		if n := utf8.RuneCountInString(id); n < 1 || n > MaxExternalIDChars || strings.TrimSpace(id) != id || !norm.NFC.IsNormalString(id) ||
			strings.IndexFunc(id, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
			t.Fatalf("%q → %q", in, id)
		}
		if again, err := NormalizeExternalID("externalId", id); err != nil || again != id {
			t.Fatalf("%q → %q → %q, %v: not stable", in, id, again, err)
		}
	})
}
