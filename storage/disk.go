// Package storage holds the object stores mediagraph keeps bytes in: S3
// (any S3-compatible server) and a local folder. Both implement media.Blobs
// and pass the same conformance suite, storagetest.
package storage

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mediagraph/mediagraph/media"
)

// BlobRoute is where the server mounts a Disk's handler for presigned part
// URLs (see ServeHTTP).
const BlobRoute = "/_blob/"

// DefaultMaxPutSize is the largest body a Disk's presigned part PUT accepts
// unless SetMaxPutSize says otherwise (S3's limit for one PUT).
const DefaultMaxPutSize = 5 << 30

// tmpPrefix marks files being written; List skips them, and no key may
// have a segment that starts with it.
const tmpPrefix = ".tmp-"

// Disk keeps objects as files under a root folder. Keys map to relative
// paths; a write goes to a temporary file that is renamed into place only
// when complete, so readers never see half an object. Multipart uploads in
// progress live in the root's hidden .multipart folder (see multipartDir),
// which no key reaches and List skips; the presigned URLs of their parts
// point at the server's own /_blob/ route (see ServeHTTP), authorized by an
// HMAC. No URL reads an object or writes one whole.
type Disk struct {
	root   string
	secret []byte

	mu   sync.RWMutex
	base string

	maxPut atomic.Int64
}

var (
	_ media.Blobs  = (*Disk)(nil)
	_ media.Seeker = (*Disk)(nil)
	_ http.Handler = (*Disk)(nil)
)

// NewDisk returns a Disk rooted at dir (created if missing) that signs
// URLs with secret.
func NewDisk(dir string, secret []byte) (*Disk, error) {
	if len(secret) < 16 {
		return nil, errors.New("storage: the disk signing secret must be at least 16 bytes")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	d := &Disk{root: abs, secret: secret, base: "http://127.0.0.1:8080"}
	d.maxPut.Store(DefaultMaxPutSize)
	return d, nil
}

// SetBaseURL sets the external base URL presigned part URLs start with,
// such as "https://media.example.com" (the server's public URL; BlobRoute
// is appended). It is safe to call while the Disk is in use.
func (d *Disk) SetBaseURL(u string) {
	d.mu.Lock()
	d.base = strings.TrimRight(u, "/")
	d.mu.Unlock()
}

// SetMaxPutSize sets the largest size a part URL may be signed for and the
// largest body a part PUT accepts; larger requests get 413. It is safe to
// call while the Disk is in use.
func (d *Disk) SetMaxPutSize(n int64) { d.maxPut.Store(n) }

// validKey rejects keys that could leave the root, alias another key or
// reach the multipart uploads' folder.
func validKey(key string) bool {
	if key == "" || len(key) > 1024 || strings.HasPrefix(key, "/") || strings.ContainsAny(key, "\\\x00") {
		return false
	}
	for i, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." || strings.HasPrefix(seg, tmpPrefix) {
			return false
		}
		// EqualFold: on a case-insensitive file system .MULTIPART is the same folder.
		if i == 0 && strings.EqualFold(seg, multipartDir) {
			return false
		}
	}
	return true
}

func (d *Disk) path(key string) (string, error) {
	if !validKey(key) {
		return "", fmt.Errorf("storage: invalid key %q", key)
	}
	return filepath.Join(d.root, filepath.FromSlash(key)), nil
}

// Put writes exactly size bytes from r under key, atomically: the bytes go
// to a temporary file in the same folder, which is synced and renamed over
// key only when complete. If r holds fewer or more than size bytes, nothing
// is stored and the error is io.ErrUnexpectedEOF or errLong. With a
// negative size, all r holds is stored.
func (d *Disk) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	fill := func(tmp *os.File) error { return copyExactly(ctx, tmp, r, size) }
	if size < 0 { // a length not known in advance: all r holds
		fill = func(tmp *os.File) error { _, err := io.Copy(tmp, ctxReader{ctx, r}); return err }
	}
	if err := writeFile(p, fill); err != nil {
		return err
	}
	return syncDir(filepath.Dir(p))
}

// writeFile replaces dst atomically: fill writes a temporary file in dst's
// folder, which is synced and renamed over dst only if fill succeeds, and
// removed otherwise. Errors of fill come back as they are, the file
// system's wrapped (errors.Is still sees fs.ErrNotExist).
func writeFile(dst string, fill func(*os.File) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(dst), tmpPrefix+"*")
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	err = fill(tmp)
	if err == nil {
		if err = tmp.Sync(); err != nil {
			err = fmt.Errorf("storage: %w", err)
		}
	}
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("storage: %w", cerr)
	}
	if err == nil {
		if err = os.Rename(tmp.Name(), dst); err != nil {
			err = fmt.Errorf("storage: %w", err)
		}
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	return nil
}

// errShort and errLong report a reader that did not hold exactly size bytes.
var (
	errShort = io.ErrUnexpectedEOF
	errLong  = errors.New("storage: the content is longer than its declared size")
)

// copyExactly copies exactly size bytes from r to w and checks that r ends there.
func copyExactly(ctx context.Context, w io.Writer, r io.Reader, size int64) error {
	n, err := io.Copy(w, io.LimitReader(ctxReader{ctx, r}, size))
	if err != nil {
		return err
	}
	if n < size {
		return errShort
	}
	var one [1]byte
	if k, _ := io.ReadFull(r, one[:]); k > 0 {
		return errLong
	}
	return nil
}

// ctxReader stops reading when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func notFound(err error) error {
	return &media.Error{Code: media.ENOTFOUND, Message: "object not found", Err: err}
}

// Get opens the object at offset for length bytes (length < 0: to the end).
func (d *Disk) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	f, err := d.OpenSeeker(ctx, key)
	if err != nil {
		return nil, err
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, fmt.Errorf("storage: %w", err)
		}
	}
	if length < 0 {
		return f, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(f, length), f}, nil
}

// OpenSeeker opens the object as a file: the HTTP server serves it with
// sendfile. Returns NOT_FOUND.
func (d *Disk) OpenSeeker(ctx context.Context, key string) (io.ReadSeekCloser, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil, notFound(err)
	}
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("storage: %w", err)
	}
	if !fi.Mode().IsRegular() { // a folder of other keys is not an object
		f.Close()
		return nil, notFound(nil)
	}
	return f, nil
}

// Stat reports an object's size and modification time.
func (d *Disk) Stat(ctx context.Context, key string) (media.BlobInfo, error) {
	p, err := d.path(key)
	if err != nil {
		return media.BlobInfo{}, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return media.BlobInfo{}, notFound(err)
	}
	if err != nil {
		return media.BlobInfo{}, fmt.Errorf("storage: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return media.BlobInfo{}, notFound(nil)
	}
	return media.BlobInfo{Key: key, Size: fi.Size(), Modified: fi.ModTime()}, nil
}

// Delete removes an object; a missing one is not an error.
func (d *Disk) Delete(ctx context.Context, key string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || (err == nil && fi.IsDir()) {
		return nil // no such object (a folder is not one)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("storage: %w", err)
	}
	return nil
}

// List calls fn for every object whose key starts with prefix, folder by
// folder in lexical order. It only walks the folder the prefix names.
func (d *Disk) List(ctx context.Context, prefix string, fn func(media.BlobInfo) error) error {
	start := d.root
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		if !validKey(prefix[:i]) {
			return nil // no valid key can start with prefix
		}
		start = filepath.Join(d.root, filepath.FromSlash(prefix[:i]))
	}
	err := filepath.WalkDir(start, func(p string, e fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed while we walked
		}
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.IsDir() {
			if strings.EqualFold(p, filepath.Join(d.root, multipartDir)) {
				return fs.SkipDir // uploads in progress are no objects
			}
			return nil
		}
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), tmpPrefix) {
			return nil
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) || !validKey(key) {
			return nil
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		return fn(media.BlobInfo{Key: key, Size: fi.Size(), Modified: fi.ModTime()})
	})
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil // the prefix's folder does not exist
	}
	return err
}

// Ping checks that the root folder is there.
func (d *Disk) Ping(ctx context.Context) error {
	if _, err := os.Stat(d.root); err != nil {
		return media.Unavailable("object storage", err)
	}
	return nil
}

// checkSize checks the size of a presigned part PUT against the limit.
func (d *Disk) checkSize(size int64) error {
	switch {
	case size < 0:
		return media.Errorf(media.EINVALID, "the size must not be negative")
	case size > d.maxPut.Load():
		return media.Errorf(media.ETOOLARGE, "one upload request may hold at most %d bytes", d.maxPut.Load())
	}
	return nil
}

func (d *Disk) blobURL(key string, q url.Values) string {
	d.mu.RLock()
	base := d.base
	d.mu.RUnlock()
	return base + BlobRoute + (&url.URL{Path: key}).EscapedPath() + "?" + q.Encode()
}

// sign is the HMAC of a URL's kind ("part", the only one) and fields. The
// kind keeps these signatures apart from any other use of the secret. No
// field holds a NUL (keys cannot, the others are numbers or upload ids), so
// the encoding is unambiguous.
func (d *Disk) sign(kind string, fields ...string) string {
	m := hmac.New(sha256.New, d.secret)
	m.Write([]byte(kind))
	for _, f := range fields {
		m.Write([]byte{0})
		m.Write([]byte(f))
	}
	return hex.EncodeToString(m.Sum(nil))
}

// signed reports whether the request's sig is the HMAC of kind and fields,
// and its expires (the last field) is still ahead.
func (d *Disk) signed(q url.Values, kind string, fields ...string) bool {
	exp, err := strconv.ParseInt(q.Get("expires"), 10, 64)
	if err != nil || time.Now().Unix() > exp {
		return false
	}
	fields = append(fields, strconv.FormatInt(exp, 10))
	return hmac.Equal([]byte(q.Get("sig")), []byte(d.sign(kind, fields...)))
}

// ServeHTTP serves presigned part URLs: a PUT of a part of a multipart
// upload (see PresignPart), which needs the Content-Length its URL was
// signed for (no larger than the SetMaxPutSize limit) and replaces the part
// atomically. Nothing else is served: no object is read or written whole
// through this route. It reads the key from the full request path, so
// mount it at BlobRoute without http.StripPrefix:
//
//	mux.Handle(storage.BlobRoute, disk)
//
// A path that is no valid key answers 403; any other method than PUT 405;
// a PUT without a part URL's fields, or whose signature is missing,
// expired or tampered with, 403; a PUT to an upload that does not exist
// (any more) 404. None of these answers carries detail.
func (d *Disk) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key, ok := strings.CutPrefix(r.URL.Path, BlobRoute)
	if !ok || !validKey(key) {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	if r.Method != http.MethodPut {
		w.Header().Set("Allow", http.MethodPut)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	if !q.Has("upload") {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	d.servePart(w, r, key, q)
}

// checkContentLength answers the request with an error and returns false
// unless its Content-Length is the signed size and within the limit.
func (d *Disk) checkContentLength(w http.ResponseWriter, r *http.Request, size int64) bool {
	switch {
	case r.ContentLength < 0:
		http.Error(w, "Content-Length required", http.StatusLengthRequired)
	case r.ContentLength > d.maxPut.Load():
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
	case r.ContentLength != size:
		http.Error(w, "the Content-Length is not the size the URL was signed for", http.StatusBadRequest)
	default:
		return true
	}
	return false
}
