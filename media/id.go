package media

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
	"time"
)

// ID is an opaque, globally unique identifier with a type prefix, such as
// "file_01jd3…" or "bkt_01jd3…". The part after the prefix is time-ordered,
// which keeps database indexes compact.
type ID string

// ID prefixes. Node lookups dispatch on them.
const (
	PrefixOrganization = "org"
	PrefixUser         = "usr"
	PrefixAPIKey       = "key"
	PrefixBucket       = "bkt"
	PrefixFile         = "file"
	PrefixBlob         = "blob"
	PrefixRevision     = "rev"
)

const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

// NewID returns a new ID with the given prefix: 48 bits of milliseconds and
// 80 random bits, in lower-case Crockford base32 (26 characters).
func NewID(prefix string, now time.Time) ID {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	if _, err := rand.Read(b[6:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	var sb strings.Builder
	sb.Grow(len(prefix) + 27)
	sb.WriteString(prefix)
	sb.WriteByte('_')
	// 128 bits → 26 base32 digits, most significant first.
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	var out [26]byte
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	sb.Write(out[:])
	return ID(sb.String())
}

// Prefix returns the type prefix of id, or "" if it has none.
func (id ID) Prefix() string {
	i := strings.IndexByte(string(id), '_')
	if i <= 0 {
		return ""
	}
	return string(id[:i])
}

// Valid reports whether id is well formed for the given prefix. It is a cheap
// check that keeps garbage out of database queries.
func (id ID) Valid(prefix string) bool {
	s := string(id)
	if len(s) != len(prefix)+27 || !strings.HasPrefix(s, prefix+"_") {
		return false
	}
	for _, c := range s[len(prefix)+1:] {
		if !strings.ContainsRune(crockford, c) {
			return false
		}
	}
	return true
}
