package media

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"strings"

	"github.com/gabriel-vasile/mimetype"
)

// FileType is the class of a file's content.
type FileType string

const (
	TypeImage    FileType = "IMAGE"
	TypeVideo    FileType = "VIDEO"
	TypeAudio    FileType = "AUDIO"
	TypeDocument FileType = "DOCUMENT"
	TypeLottie   FileType = "LOTTIE"
	TypeOther    FileType = "OTHER"
)

// FileTypes lists every type class.
var FileTypes = []FileType{TypeImage, TypeVideo, TypeAudio, TypeDocument, TypeLottie, TypeOther}

// Valid reports whether t is a known type class.
func (t FileType) Valid() bool {
	for _, x := range FileTypes {
		if t == x {
			return true
		}
	}
	return false
}

const mib = 1 << 20

// DefaultTypeLimits are the per-type size limits of CONTRACT.md §1. A bucket
// may override them; OTHER is limited by the bucket and the server alone.
var DefaultTypeLimits = map[FileType]int64{
	TypeImage:    10 * mib,
	TypeVideo:    100 * mib,
	TypeAudio:    50 * mib,
	TypeDocument: 20 * mib,
	TypeLottie:   50 * mib,
}

var typeByMIME = map[string]FileType{
	"image/jpeg": TypeImage, "image/png": TypeImage, "image/gif": TypeImage, "image/webp": TypeImage,
	"image/avif": TypeImage, "image/heic": TypeImage, "image/heif": TypeImage,
	"image/heic-sequence": TypeImage, "image/heif-sequence": TypeImage, "image/svg+xml": TypeImage,
	"image/apng": TypeImage,

	"video/mp4": TypeVideo, "video/webm": TypeVideo, "video/quicktime": TypeVideo,

	"audio/mpeg": TypeAudio, "audio/mp4": TypeAudio, "audio/x-m4a": TypeAudio, "audio/wav": TypeAudio,
	"audio/ogg": TypeAudio, "audio/opus": TypeAudio, "audio/flac": TypeAudio, "audio/aac": TypeAudio,
	"audio/aiff": TypeAudio,

	"application/pdf": TypeDocument, "application/msword": TypeDocument,
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document": TypeDocument,
	"application/vnd.ms-excel": TypeDocument,
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": TypeDocument,
	"text/plain": TypeDocument, "text/csv": TypeDocument,
}

// ClassifyMIME returns the type class of a (sniffed) MIME type.
func ClassifyMIME(mimeType string) FileType {
	if t, ok := typeByMIME[mimeType]; ok {
		return t
	}
	return TypeOther
}

// MIMELottie is the MIME type given to Lottie animations (JSON with the
// Lottie top-level keys).
const MIMELottie = "application/lottie+json"

// SniffLimit is how many leading bytes are read to recognise content and to
// read image dimensions without decoding.
const SniffLimit = 256 << 10

// Sniffed is what can be learned from a file's leading bytes.
type Sniffed struct {
	MimeType string
	Type     FileType
	Width    *int
	Height   *int
}

// Sniff recognises content from its leading bytes (at most SniffLimit).
// total is the whole content's size, so a complete small file can be
// recognised as such.
func Sniff(head []byte, total int64) Sniffed {
	m := mimetype.Detect(head)
	mt := baseMIME(m.String())
	// mimetype has one node for several aliases; report the canonical name.
	if mt == "application/json" && isLottie(head) {
		return Sniffed{MimeType: MIMELottie, Type: TypeLottie}
	}
	s := Sniffed{MimeType: mt, Type: ClassifyMIME(mt)}
	if s.Type == TypeImage {
		if c, ok := ImageCodecFor(head); ok {
			if cfg, err := c.DecodeConfig(bytes.NewReader(head)); err == nil {
				w, h := cfg.Width, cfg.Height
				s.Width, s.Height = &w, &h
			}
		}
	}
	return s
}

// isLottie reports whether a JSON document's top level has the keys every
// Lottie animation has. Only the sniffed head is read.
func isLottie(head []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(head))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return false
	}
	need := map[string]bool{"v": false, "fr": false, "ip": false, "op": false, "layers": false}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return false
		}
		key, _ := t.(string)
		if _, ok := need[key]; ok {
			need[key] = true
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			break // the head ends inside a large value; judge by what was seen
		}
	}
	for _, seen := range need {
		if !seen {
			return false
		}
	}
	return true
}

func baseMIME(s string) string {
	if mt, _, err := mime.ParseMediaType(s); err == nil {
		return mt
	}
	return strings.ToLower(strings.TrimSpace(s))
}

// checkDeclared returns UNSUPPORTED_MEDIA_TYPE when a client's declared MIME
// type contradicts the sniffed one. A missing or generic declaration
// (application/octet-stream) contradicts nothing; a declaration that is the
// sniffed type, one of its aliases, or a more specific kind of it (text/markdown
// for text/plain, a .docx for a zip) agrees.
func checkDeclared(declared string, sniffed string) error {
	declared = baseMIME(declared)
	if declared == "" || declared == "application/octet-stream" || declared == sniffed {
		return nil
	}
	if sniffed == MIMELottie && declared == "application/json" {
		return nil
	}
	sm := mimetype.Lookup(sniffed)
	if sm != nil && sm.Is(declared) {
		return nil
	}
	if dm := mimetype.Lookup(declared); dm != nil && sniffed != "application/octet-stream" {
		for p := dm.Parent(); p != nil; p = p.Parent() {
			if p.Is(sniffed) {
				return nil
			}
		}
	} else if sniffed == "text/plain" && strings.HasPrefix(declared, "text/") {
		return nil
	}
	return &Error{Code: EUNSUPPORTED, Field: "mimeType",
		Message: fmt.Sprintf("the content is %s but was declared as %s", sniffed, declared)}
}

// MatchMIME reports whether mimeType matches a pattern such as "image/png",
// "image/*" or "*/*".
func MatchMIME(pattern, mimeType string) bool {
	pattern = strings.ToLower(strings.TrimSpace(pattern))
	if pattern == "*/*" || pattern == "*" || pattern == mimeType {
		return true
	}
	if prefix, ok := strings.CutSuffix(pattern, "/*"); ok {
		return strings.HasPrefix(mimeType, prefix+"/")
	}
	return false
}

// validMIMEPattern reports whether p is "type/subtype", "type/*" or "*/*".
func validMIMEPattern(p string) bool {
	typ, sub, ok := strings.Cut(p, "/")
	if !ok || typ == "" || sub == "" || len(p) > 255 {
		return false
	}
	if typ == "*" {
		return sub == "*"
	}
	return strings.IndexFunc(p, func(r rune) bool { return r <= ' ' || r == ';' || r == ',' || r > '~' }) < 0 &&
		(sub == "*" || !strings.Contains(sub, "*"))
}
