package media

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Search and external id limits.
const (
	// MaxSearchBytes caps a search string, MaxSearchWords the words in it.
	MaxSearchBytes = 256
	MaxSearchWords = 16
	// MaxExternalIDChars caps an external id.
	MaxExternalIDChars = 255
)

// SearchWords splits a search into its words, lower-cased: runs of
// letters, digits and combining marks that hold a letter or a digit (marks
// alone are no word to either database). Everything else separates words —
// spaces, and punctuation such as _ - . / in names and paths — exactly as
// both databases split the text they index, so "invoice_2025-03.pdf" is
// the words invoice, 2025, 03 and pdf. Quotes and operators of the
// databases' query languages (& | ! ( ) : * " NEAR) are either separators
// or plain words here; the database layer quotes every word.
func SearchWords(s string) []string {
	s = strings.ToLower(norm.NFC.String(s))
	words := strings.FieldsFunc(s, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r) && !unicode.IsMark(r)
	})
	return slices.DeleteFunc(words, func(w string) bool {
		return strings.IndexFunc(w, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsNumber(r) }) < 0
	})
}

// normalizeSearch checks filter.search and returns its canonical form (see
// FileFilter.Search): nil when it has no words, which is as if no search
// was given. Returns BAD_USER_INPUT for a search too long or of too many
// words.
func normalizeSearch(s *string) (*string, error) {
	if s == nil {
		return nil, nil
	}
	if len(*s) > MaxSearchBytes || !utf8.ValidString(*s) {
		return nil, Invalid("filter.search", "search is at most %d bytes of text", MaxSearchBytes)
	}
	words := SearchWords(*s)
	if len(words) > MaxSearchWords {
		return nil, Invalid("filter.search", "search has %d words; at most %d are looked for", len(words), MaxSearchWords)
	}
	if len(words) == 0 {
		return nil, nil
	}
	out := strings.Join(words, " ")
	return &out, nil
}

// NormalizeExternalID checks a client-assigned id and returns it trimmed of
// surrounding spaces and in Unicode NFC (one spelling, as names): 1 to 255
// printable characters (letters, marks, digits, punctuation, symbols and
// the space; no control, format or other invisible characters). Returns
// BAD_USER_INPUT naming field.
func NormalizeExternalID(field, id string) (string, error) {
	if !utf8.ValidString(id) {
		return "", Invalid(field, "an external id must be valid UTF-8")
	}
	id = norm.NFC.String(strings.TrimSpace(id))
	n := utf8.RuneCountInString(id)
	if n == 0 || n > MaxExternalIDChars {
		return "", Invalid(field, "an external id is 1 to %d characters, not counting surrounding spaces", MaxExternalIDChars)
	}
	if strings.IndexFunc(id, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return "", Invalid(field, "an external id may contain only printable characters (no control or invisible ones)")
	}
	return id, nil
}

// normalizeExternalID is NormalizeExternalID of an optional id.
func normalizeExternalID(field string, id *string) (*string, error) {
	if id == nil {
		return nil, nil
	}
	v, err := NormalizeExternalID(field, *id)
	if err != nil {
		return nil, err
	}
	return &v, nil
}
