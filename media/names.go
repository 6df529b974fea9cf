package media

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Name and path limits.
const (
	MaxNameBytes  = 255
	MaxPathBytes  = 1024
	MaxPathDepth  = 32
	maxTagBytes   = 64
	maxTagsOnFile = 64
)

// isInvisible reports runes that must never appear in a stored name: control
// characters, bidirectional overrides and isolates (which can make
// "evil\u202Egpj.exe" display as "evilexe.jpg"), and zero-width joiners.
func isInvisible(r rune) bool {
	switch {
	case unicode.IsControl(r):
		return true
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069, r == 0x200E, r == 0x200F, r == 0x061C:
		return true
	case r >= 0x200B && r <= 0x200D, r == 0xFEFF:
		return true
	}
	return false
}

// SanitizeName turns a client-supplied file name into a safe one: the last
// path element only (a client may send "C:\photos\a.jpg"), without control,
// bidi or zero-width characters, trimmed, not "." or "..", and at most
// MaxNameBytes bytes (cut before the extension, on a rune boundary).
// Returns BAD_USER_INPUT if nothing usable is left.
func SanitizeName(field, name string) (string, error) {
	name = strings.ToValidUTF8(name, "")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if isInvisible(r) {
			return -1
		}
		return r
	}, name)
	// One spelling per name: "é" typed as one code point or as "e" and a
	// combining accent is the same name (Unicode NFC, as macOS and the web
	// send either). After the removals, which can bring marks together.
	name = norm.NFC.String(name)
	name = strings.TrimSpace(name)
	name = strings.TrimRight(name, ". ") // Windows drops trailing dots and spaces
	if name == "" || name == "." || name == ".." {
		return "", Invalid(field, "the file name is empty after removing path and control characters")
	}
	if len(name) > MaxNameBytes {
		ext := ""
		if i := strings.LastIndexByte(name, '.'); i > 0 && len(name)-i <= 16 {
			ext = name[i:]
		}
		// The cut may leave spaces or dots at the end of the stem or name.
		stem := strings.TrimRight(truncateUTF8(name[:len(name)-len(ext)], MaxNameBytes-len(ext)), ". ")
		name = norm.NFC.String(strings.TrimRight(stem+ext, ". "))
	}
	return name, nil
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// NormalizePath returns a folder path in canonical form: starting and ending
// with "/", no empty, "." or ".." segments, no control characters, in
// Unicode NFC. "" and "/" are the root. Returns BAD_USER_INPUT for paths it will not store.
func NormalizePath(field, p string) (string, error) {
	if p == "" || p == "/" {
		return "/", nil
	}
	if !utf8.ValidString(p) || len(p) > MaxPathBytes {
		return "", Invalid(field, "a path must be valid UTF-8 and at most %d bytes", MaxPathBytes)
	}
	p = norm.NFC.String(p)
	if strings.ContainsRune(p, '\\') {
		return "", Invalid(field, `a path uses "/" as separator, not "\"`)
	}
	var segs []string
	for _, s := range strings.Split(p, "/") {
		if s == "" {
			continue
		}
		if s == "." || s == ".." {
			return "", Invalid(field, `a path may not contain "." or ".." segments`)
		}
		if strings.IndexFunc(s, isInvisible) >= 0 || strings.TrimSpace(s) != s {
			return "", Invalid(field, "a path segment may not contain control characters or surrounding spaces")
		}
		segs = append(segs, s)
	}
	if len(segs) > MaxPathDepth {
		return "", Invalid(field, "a path may be at most %d folders deep", MaxPathDepth)
	}
	if len(segs) == 0 {
		return "/", nil
	}
	return "/" + strings.Join(segs, "/") + "/", nil
}

// NormalizeTags trims, lower-cases and de-duplicates tags, keeping order.
func NormalizeTags(field string, tags []string) ([]string, error) {
	out := make([]string, 0, len(tags))
	seen := map[string]bool{}
	for _, t := range tags {
		t = norm.NFC.String(strings.ToLower(strings.TrimSpace(t)))
		if t == "" {
			continue
		}
		if len(t) > maxTagBytes || !utf8.ValidString(t) || strings.IndexFunc(t, isInvisible) >= 0 || strings.Contains(t, ",") {
			return nil, Invalid(field, "a tag must be at most %d bytes of printable text without commas", maxTagBytes)
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	if len(out) > maxTagsOnFile {
		return nil, Invalid(field, "a file may have at most %d tags", maxTagsOnFile)
	}
	return out, nil
}
