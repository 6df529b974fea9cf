package media

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strconv"
	"time"
)

// URL lifetimes for PRIVATE files.
const (
	DefaultURLExpiry = time.Hour
	MaxURLExpiry     = 7 * 24 * time.Hour
)

// fileURL returns the download URL of a file's revision rev: stable for a
// PUBLIC file, signed and expiring for a PRIVATE one. The revision is in the
// URL, so what it serves never changes and caches may keep it for good.
func (s *Service) fileURL(f *File, rev int, expiresIn *int) (string, error) {
	q, err := s.urlQuery(f, rev, "file", expiresIn)
	if err != nil {
		return "", err
	}
	return s.Config.PublicURL + "/files/" + string(f.ID) + "/" + url.PathEscape(f.Name) + "?" + q.Encode(), nil
}

func secondsDuration(n int) time.Duration { return time.Duration(n) * time.Second }

// sign is the HMAC of what a URL grants (kind: "file" for the bytes,
// "thumb:WxH" or "variant:SPEC" for one rendition), a file id, revision and expiry under the
// signing secret.
func (s *Service) sign(kind string, id ID, rev int, exp int64) string {
	m := hmac.New(sha256.New, s.Config.SigningSecret)
	m.Write([]byte(kind + "\x00" + string(id) + "\x00" + strconv.Itoa(rev) + "\x00" + strconv.FormatInt(exp, 10)))
	return hex.EncodeToString(m.Sum(nil)[:20])
}

// validSignature checks a download token in constant time, and its expiry.
func (s *Service) validSignature(kind string, id ID, rev int, expParam, sig string) bool {
	exp, err := strconv.ParseInt(expParam, 10, 64)
	if err != nil || sig == "" || s.Now().Unix() > exp {
		return false
	}
	return hmac.Equal([]byte(sig), []byte(s.sign(kind, id, rev, exp)))
}

// FileURL returns the URL of a file's current content or, with a
// transform, of a variant of it (see transformURL).
// Returns BAD_USER_INPUT for a bad expiresIn or transform.
func (s *Service) FileURL(ctx context.Context, f *File, expiresIn *int, transform *ImageTransform) (string, error) {
	if _, err := require(ctx, ScopeMediaRead); err != nil {
		return "", err
	}
	if transform != nil {
		return s.transformURL(f, *transform, expiresIn)
	}
	return s.fileURL(f, f.Revision, expiresIn)
}
