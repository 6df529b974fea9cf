package media

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/png"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestSanitizeName(t *testing.T) {
	for in, want := range map[string]string{
		"photo.jpg":                        "photo.jpg",
		"../../etc/passwd":                 "passwd",
		`C:\x\y.png`:                       "y.png",
		"a\u202eb.exe":                     "ab.exe",
		"a\u200bb":                         "ab",
		" x. ":                             "x",
		"bad\xffutf8.txt":                  "badutf8.txt",
		strings.Repeat("a", 300):           strings.Repeat("a", 255),
		strings.Repeat("a", 300) + ".jpeg": strings.Repeat("a", 250) + ".jpeg",
	} {
		got, err := SanitizeName("name", in)
		if err != nil || got != want {
			t.Errorf("SanitizeName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "/", "..", ".", "\u202e", "a/", "   "} {
		if _, err := SanitizeName("name", in); ErrorCode(err) != EINVALID {
			t.Errorf("SanitizeName(%q): %v, want BAD_USER_INPUT", in, err)
		}
	}
}

func TestNormalizePath(t *testing.T) {
	for in, want := range map[string]string{"": "/", "/": "/", "a": "/a/", "/a/b": "/a/b/", "//a//b//": "/a/b/", "/événements/": "/événements/"} {
		if got, err := NormalizePath("path", in); err != nil || got != want {
			t.Errorf("NormalizePath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"/a/../b", "./a", `a\b`, "/a\x00/", "/ a/", strings.Repeat("/a", 33), strings.Repeat("x", 1100)} {
		if _, err := NormalizePath("path", in); ErrorCode(err) != EINVALID {
			t.Errorf("NormalizePath(%q): %v, want BAD_USER_INPUT", in, err)
		}
	}
}

func TestMatchMIME(t *testing.T) {
	for _, c := range []struct {
		pattern, mt string
		want        bool
	}{
		{"image/*", "image/png", true}, {"image/*", "video/mp4", false}, {"*/*", "x/y", true},
		{"image/png", "image/png", true}, {"image/png", "image/jpeg", false}, {"IMAGE/PNG", "image/png", true},
		{"image/*", "imagex/png", false},
	} {
		if got := MatchMIME(c.pattern, c.mt); got != c.want {
			t.Errorf("MatchMIME(%q, %q) = %v", c.pattern, c.mt, got)
		}
	}
}

func TestCheckDeclared(t *testing.T) {
	for _, c := range []struct {
		declared, sniffed string
		ok                bool
	}{
		{"", "image/png", true}, {"application/octet-stream", "image/png", true}, {"image/png", "image/png", true},
		{"image/png; charset=x", "image/png", true}, {"audio/x-wav", "audio/wav", true}, {"text/markdown", "text/plain", true},
		{"application/vnd.openxmlformats-officedocument.wordprocessingml.document", "application/zip", true},
		{"image/png", "text/plain", false}, {"image/jpeg", "application/pdf", false}, {"image/png", "application/octet-stream", false},
		{"application/json", MIMELottie, true},
	} {
		err := checkDeclared(c.declared, c.sniffed)
		if (err == nil) != c.ok {
			t.Errorf("checkDeclared(%q, %q) = %v", c.declared, c.sniffed, err)
		}
		if err != nil && ErrorCode(err) != EUNSUPPORTED {
			t.Errorf("code %v", err)
		}
	}
}

func TestSniff(t *testing.T) {
	var buf bytes.Buffer
	_ = png.Encode(&buf, image.NewGray(image.Rect(0, 0, 7, 3)))
	s := Sniff(buf.Bytes(), int64(buf.Len()))
	if s.MimeType != "image/png" || s.Type != TypeImage || *s.Width != 7 || *s.Height != 3 {
		t.Fatalf("png: %+v", s)
	}
	if s := Sniff([]byte(`{"v":"5","fr":30,"ip":0,"op":9,"layers":[{"ty":4}],"w":1}`), 0); s.Type != TypeLottie {
		t.Fatalf("lottie: %+v", s)
	}
	if s := Sniff([]byte(`{"a":1}`), 0); s.Type != TypeOther || s.MimeType != "application/json" {
		t.Fatalf("json: %+v", s)
	}
	if s := Sniff([]byte("%PDF-1.7\n"), 0); s.Type != TypeDocument {
		t.Fatalf("pdf: %+v", s)
	}
}

func TestBase64Content(t *testing.T) {
	for _, data := range [][]byte{{}, {1}, {1, 2}, {1, 2, 3}, bytes.Repeat([]byte{7}, 1000)} {
		for _, prefix := range []string{"", "data:image/png;base64,"} {
			r, size, declared, err := Base64Content("data", prefix+base64.StdEncoding.EncodeToString(data))
			if err != nil || size != int64(len(data)) || (prefix != "") != (declared == "image/png") {
				t.Fatalf("%d bytes: size %d, %q, %v", len(data), size, declared, err)
			}
			got, _ := io.ReadAll(r)
			if !bytes.Equal(got, data) {
				t.Fatal("decoded bytes differ")
			}
		}
	}
	for _, bad := range []string{"a", "ab=c", "a===", "ab\ncd==", "data:image/png,abcd", "****"} {
		if _, _, _, err := Base64Content("data", bad); ErrorCode(err) != EINVALID {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestNewID(t *testing.T) {
	now := time.Now()
	a, b := NewID(PrefixFile, now), NewID(PrefixFile, now.Add(time.Millisecond))
	if !a.Valid(PrefixFile) || a.Valid(PrefixBucket) || a.Prefix() != PrefixFile || a >= b {
		t.Fatalf("ids %s %s", a, b)
	}
	for _, bad := range []ID{"", "file_", "file_../../x", "file_" + ID(strings.Repeat("U", 26)), "bkt_" + a[5:]} {
		if bad.Valid(PrefixFile) {
			t.Errorf("%q valid", bad)
		}
	}
}

func TestStripJPEGLocationNeverPanics(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		b := make([]byte, rng.IntN(512))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		if len(b) > 40 && rng.IntN(2) == 0 {
			copy(b, []byte("\xff\xd8\xff\xe1\x01\x00Exif\x00\x00II\x2a\x00\x08\x00\x00\x00"))
		}
		stripJPEGLocation(b)
	}
}
