package analyze

import (
	"bytes"
	"context"
	"image/color"
	"testing"
	"time"
)

// One fuzz target per parser (FuzzAnalyze in formats_test.go mixes them):
// no input makes a parser panic, loop or fail; analysis of malformed
// content reports a problem, not an error.

func fuzzParser(f *testing.F, mimeType string, seeds ...[]byte) {
	for _, s := range seeds {
		f.Add(s)
		f.Add(append(bytes.Clone(s), make([]byte, 256)...))
	}
	a := New(Config{MaxPixels: 4_000_000, Timeout: 5 * time.Second, FFprobe: "-"})
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := a.Analyze(context.Background(), mimeType, bytes.NewReader(b), int64(len(b))); err != nil {
			t.Fatalf("%s: %v", mimeType, err)
		}
	})
}

func FuzzWAV(f *testing.F) {
	fuzzParser(f, "audio/wav", []byte("RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x44\xac\x00\x00\x88\x58\x01\x00\x02\x00\x10\x00data\x00\x00\x00\x00"),
		[]byte("RF64\xff\xff\xff\xffWAVEds64\x1c\x00\x00\x00"))
}

func FuzzMP3(f *testing.F) {
	fuzzParser(f, "audio/mpeg", []byte("ID3\x04\x00\x00\x00\x00\x00\x00\xFF\xFB\x90\x00"), append([]byte("\xFF\xFB\x90\x00"), []byte("\x00\x00\x00\x00Xing\x00\x00\x00\x0f")...))
}

func FuzzMP4(f *testing.F) {
	mvhd := box("mvhd", []byte{0, 0, 0, 0}, make([]byte, 8), be32(1000), be32(12500), make([]byte, 80))
	fuzzParser(f, "video/mp4", cat(box("ftyp", []byte("isom"), be32(0)), box("moov", mvhd)), []byte("\x00\x00\x00\x18ftypmp42"))
}

func FuzzMatroska(f *testing.F) {
	fuzzParser(f, "video/webm", cat(ebml([]byte{0x1A, 0x45, 0xDF, 0xA3}, []byte{0x42, 0x82, 0x84}, []byte("webm")),
		ebml([]byte{0x18, 0x53, 0x80, 0x67}, ebml([]byte{0x15, 0x49, 0xA9, 0x66}, ebml([]byte{0x2A, 0xD7, 0xB1}, []byte{0x0F, 0x42, 0x40})))))
}

func FuzzFLAC(f *testing.F) {
	fuzzParser(f, "audio/flac", []byte("fLaC\x00\x00\x00\x22\x10\x00\x10\x00\x00\x00\x00\x00\x00\x00\x0a\xc4\x42\xf0\x00\x00\xac\x44"))
}

func FuzzOgg(f *testing.F) {
	fuzzParser(f, "audio/ogg", []byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1e\x01vorbis"))
}

func FuzzPDF(f *testing.F) {
	fuzzParser(f, "application/pdf", []byte("%PDF-1.7\n2 0 obj << /Count 3 /Kids [3 0 R] /Type /Pages >> endobj\n%%EOF"),
		[]byte("%PDF-1.7\n<< /Type /Pages /Count 1 /Count 2 << >> >>"))
}

// FuzzEXIF: orientation readers for every container they read.
func FuzzEXIF(f *testing.F) {
	j := jpegOf(solid(8, 4, color.Black))
	f.Add(withOrientation(j, 6, false))
	f.Add(withOrientation(j, 8, true))
	f.Add(tiffWithOrientation(3))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, format := range []string{"jpeg", "tiff", "png", "webp"} {
			if o := orientation(format, b); o < 1 || o > 8 {
				t.Fatalf("%s: orientation %d", format, o)
			}
		}
	})
}
