package storage

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mediagraph/mediagraph/media"
)

// multipartDir is the folder of the Disk's root that holds multipart
// uploads in progress, one folder per upload:
//
//	.multipart/<upload id>/upload       {"key": …, "initiated": …} (JSON)
//	.multipart/<upload id>/part-00001   the part's MD5 (16 bytes), then its bytes
//
// Every file is written to a temporary file and renamed into place, so a
// part is either its previous or its new version, never half of one. No
// key can name this folder (validKey), and List skips it.
const multipartDir = ".multipart"

// uploadFile holds an upload's description.
const uploadFile = "upload"

// partPrefix starts the name of a part's file; the number follows on 5
// digits, so the names sort by number.
const partPrefix = "part-"

// etagSize is the size of the MD5 at the start of a part's file.
const etagSize = md5.Size

type uploadInfo struct {
	Key         string    `json:"key"`
	ContentType string    `json:"content_type,omitempty"`
	Initiated   time.Time `json:"initiated"`
}

// newUploadID returns 128 random bits in hex.
func newUploadID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (see crypto/rand)
	return hex.EncodeToString(b[:])
}

// validUploadID accepts exactly what newUploadID makes: 32 lowercase hex digits.
func validUploadID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for _, c := range []byte(id) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func partName(n int) string { return fmt.Sprintf("%s%05d", partPrefix, n) }

func uploadNotFound(err error) error {
	return &media.Error{Code: media.ENOTFOUND, Message: "upload not found", Err: err}
}

func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func (d *Disk) uploadsDir() string { return filepath.Join(d.root, multipartDir) }

// upload returns the folder of the upload of key with the id, or NOT_FOUND.
func (d *Disk) upload(key, id string) (string, error) {
	if !validKey(key) {
		return "", fmt.Errorf("storage: invalid key %q", key)
	}
	if !validUploadID(id) {
		return "", uploadNotFound(nil)
	}
	dir := filepath.Join(d.uploadsDir(), id)
	info, err := readUploadInfo(dir)
	if err != nil {
		return "", err
	}
	if info.Key != key {
		return "", uploadNotFound(nil)
	}
	return dir, nil
}

func readUploadInfo(dir string) (uploadInfo, error) {
	var info uploadInfo
	b, err := os.ReadFile(filepath.Join(dir, uploadFile))
	if isNotExist(err) {
		return info, uploadNotFound(err)
	}
	if err != nil {
		return info, fmt.Errorf("storage: %w", err)
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return info, fmt.Errorf("storage: upload %s: %w", filepath.Base(dir), err)
	}
	return info, nil
}

// CreateMultipart starts a multipart upload of key: its folder is prepared
// under a temporary name and renamed into place complete.
func (d *Disk) CreateMultipart(ctx context.Context, key, contentType string) (string, error) {
	if !validKey(key) {
		return "", fmt.Errorf("storage: invalid key %q", key)
	}
	ups := d.uploadsDir()
	if err := os.MkdirAll(ups, 0o700); err != nil {
		return "", fmt.Errorf("storage: %w", err)
	}
	tmp, err := os.MkdirTemp(ups, tmpPrefix+"*")
	if err != nil {
		return "", fmt.Errorf("storage: %w", err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	b, err := json.Marshal(uploadInfo{Key: key, ContentType: contentType, Initiated: time.Now().UTC()})
	if err != nil {
		return "", err
	}
	if err := writeFileSync(filepath.Join(tmp, uploadFile), b); err != nil {
		return "", err
	}
	id := newUploadID()
	if err := os.Rename(tmp, filepath.Join(ups, id)); err != nil {
		return "", fmt.Errorf("storage: %w", err)
	}
	done = true
	if err := syncDir(ups); err != nil {
		return "", err
	}
	return id, nil
}

func writeFileSync(name string, b []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("storage: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("storage: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	return nil
}

// PresignPart returns a URL that accepts PUTs of exactly size bytes as part
// number of the upload until expiry. The signature covers the method, key,
// upload id, part number, size and expiry.
func (d *Disk) PresignPart(ctx context.Context, key, uploadID string, number int, size int64, expires time.Duration) (string, error) {
	if err := checkPartNumber(number); err != nil {
		return "", err
	}
	if err := d.checkSize(size); err != nil {
		return "", err
	}
	if _, err := d.upload(key, uploadID); err != nil {
		return "", err
	}
	exp := time.Now().Add(expires).Unix()
	n, sz, ex := strconv.Itoa(number), strconv.FormatInt(size, 10), strconv.FormatInt(exp, 10)
	return d.blobURL(key, url.Values{"upload": {uploadID}, "part": {n}, "size": {sz}, "expires": {ex},
		"sig": {d.sign("part", http.MethodPut, key, uploadID, n, sz, ex)}}), nil
}

// servePart stores the body of a presigned part PUT and answers its ETag.
func (d *Disk) servePart(w http.ResponseWriter, r *http.Request, key string, q url.Values) {
	id, n, sz := q.Get("upload"), q.Get("part"), q.Get("size")
	number, err1 := strconv.Atoi(n)
	size, err2 := strconv.ParseInt(sz, 10, 64)
	if err1 != nil || err2 != nil || !validUploadID(id) || number < 1 || number > maxParts || size < 0 ||
		!d.signed(q, "part", r.Method, key, id, n, sz) {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	// Only PUT URLs are signed, so r.Method is PUT here.
	dir, err := d.upload(key, id)
	if err != nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if !d.checkContentLength(w, r, size) {
		return
	}
	etag, err := writePart(r.Context(), dir, number, r.Body, size)
	switch {
	case errors.Is(err, errShort) || errors.Is(err, errLong):
		http.Error(w, "the body does not match its Content-Length", http.StatusBadRequest)
	case media.IsNotFound(err):
		http.Error(w, "not found", http.StatusNotFound)
	case err != nil:
		http.Error(w, "upload failed", http.StatusInternalServerError)
	default:
		w.Header().Set("ETag", etag)
		w.WriteHeader(http.StatusOK)
	}
}

// writePart stores exactly size bytes of r as part number of the upload in
// dir, replacing any previous version atomically, and returns its ETag.
// If the upload ends meanwhile (completed or aborted), it is NOT_FOUND.
func writePart(ctx context.Context, dir string, number int, r io.Reader, size int64) (string, error) {
	var sum [etagSize]byte
	err := writeFile(filepath.Join(dir, partName(number)), func(tmp *os.File) error {
		if _, err := tmp.Write(sum[:]); err != nil { // room for the MD5
			return fmt.Errorf("storage: %w", err)
		}
		h := md5.New()
		if err := copyExactly(ctx, io.MultiWriter(tmp, h), r, size); err != nil {
			return err
		}
		h.Sum(sum[:0])
		if _, err := tmp.WriteAt(sum[:], 0); err != nil {
			return fmt.Errorf("storage: %w", err)
		}
		return nil
	})
	if isNotExist(err) {
		return "", uploadNotFound(err)
	}
	if err != nil {
		return "", err
	}
	if err := syncDir(dir); err != nil && !isNotExist(err) {
		return "", err
	}
	return etagOf(sum[:]), nil
}

func etagOf(sum []byte) string { return `"` + hex.EncodeToString(sum) + `"` }

// openPart opens a part's file positioned at its bytes.
func openPart(dir string, number int) (f *os.File, p media.Part, err error) {
	f, err = os.Open(filepath.Join(dir, partName(number)))
	if err != nil {
		return nil, p, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, p, fmt.Errorf("storage: %w", err)
	}
	var sum [etagSize]byte
	if _, err := io.ReadFull(f, sum[:]); err != nil || fi.Size() < etagSize {
		f.Close()
		return nil, p, fmt.Errorf("storage: part %d of upload %s is corrupt", number, filepath.Base(dir))
	}
	return f, media.Part{Number: number, Size: fi.Size() - etagSize, ETag: etagOf(sum[:])}, nil
}

func statPart(dir string, number int) (media.Part, error) {
	f, p, err := openPart(dir, number)
	if err != nil {
		return p, err
	}
	f.Close()
	return p, nil
}

// ListParts returns the parts stored so far, by number.
func (d *Disk) ListParts(ctx context.Context, key, uploadID string) ([]media.Part, error) {
	dir, err := d.upload(key, uploadID)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if isNotExist(err) {
		return nil, uploadNotFound(err)
	}
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	parts := []media.Part{}
	for _, e := range entries { // sorted by name, so by number
		digits, ok := strings.CutPrefix(e.Name(), partPrefix)
		n, err := strconv.Atoi(digits)
		if !ok || err != nil || len(digits) != 5 {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p, err := statPart(dir, n)
		if isNotExist(err) { // the upload ended meanwhile
			return nil, uploadNotFound(err)
		}
		if err != nil {
			return nil, err
		}
		parts = append(parts, p)
	}
	return parts, nil
}

// checkParts checks that the parts given to CompleteMultipart are stored
// in dir with their ETags, and large enough.
func checkParts(dir string, parts []media.Part) error {
	for i, want := range parts {
		got, err := statPart(dir, want.Number)
		if isNotExist(err) {
			return media.Errorf(media.EINVALID, "part %d was not uploaded", want.Number)
		}
		if err != nil {
			return err
		}
		if strings.Trim(want.ETag, `"`) != strings.Trim(got.ETag, `"`) {
			return media.Errorf(media.EINVALID, "the ETag of part %d does not match", want.Number)
		}
		if i < len(parts)-1 && got.Size < media.MinPartSize {
			return media.Errorf(media.EINVALID, "every part but the last must hold at least %d bytes", media.MinPartSize)
		}
	}
	return nil
}

func checkPartList(parts []media.Part) error {
	if len(parts) == 0 {
		return media.Errorf(media.EINVALID, "a multipart upload needs at least one part")
	}
	for i, p := range parts {
		if err := checkPartNumber(p.Number); err != nil {
			return err
		}
		if i > 0 && p.Number <= parts[i-1].Number {
			return media.Errorf(media.EINVALID, "the parts must be listed by number, ascending")
		}
	}
	return nil
}

// claim renames an upload's folder to a temporary name, so that no part
// can be written to it any more and no other call finds it. It returns
// NOT_FOUND if another call claimed it first.
func (d *Disk) claim(dir string) (string, error) {
	claimed := filepath.Join(d.uploadsDir(), tmpPrefix+filepath.Base(dir)+"-"+newUploadID()[:8])
	if err := os.Rename(dir, claimed); err != nil {
		if isNotExist(err) {
			return "", uploadNotFound(err)
		}
		return "", fmt.Errorf("storage: %w", err)
	}
	return claimed, nil
}

// CompleteMultipart joins the parts into the object key. It checks the
// parts, then claims the upload's folder (so no part changes under it),
// checks them again and copies them one after the other into a temporary
// file (with copy_file_range where the system has it, else through a small
// buffer: never a whole part in memory) that is synced and renamed over
// key. If anything fails the upload is put back, still usable.
func (d *Disk) CompleteMultipart(ctx context.Context, key, uploadID string, parts []media.Part) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := checkPartList(parts); err != nil {
		return err
	}
	dir, err := d.upload(key, uploadID)
	if err != nil {
		return err
	}
	if err := checkParts(dir, parts); err != nil {
		return err
	}
	claimed, err := d.claim(dir)
	if err != nil {
		return err
	}
	if err := d.join(ctx, p, claimed, parts); err != nil {
		if rerr := os.Rename(claimed, dir); rerr != nil {
			return errors.Join(err, fmt.Errorf("storage: restoring upload %s: %w", uploadID, rerr))
		}
		return err
	}
	_ = syncDir(d.uploadsDir())
	if err := os.RemoveAll(claimed); err != nil {
		return fmt.Errorf("storage: the object is stored, but removing its upload failed: %w", err)
	}
	return nil
}

// join writes the parts in the claimed folder to the object file p.
func (d *Disk) join(ctx context.Context, p, claimed string, parts []media.Part) error {
	// A part may have been replaced between the first check and the claim.
	if err := checkParts(claimed, parts); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	err := writeFile(p, func(tmp *os.File) error {
		for _, want := range parts {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := appendPart(tmp, claimed, want.Number); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return syncDir(filepath.Dir(p))
}

func appendPart(w *os.File, dir string, number int) error {
	f, part, err := openPart(dir, number)
	if err != nil {
		return err
	}
	defer f.Close()
	// io.LimitReader over an *os.File: (*os.File).ReadFrom can use copy_file_range.
	n, err := io.Copy(w, io.LimitReader(f, part.Size))
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	if n != part.Size {
		return fmt.Errorf("storage: part %d shrank while being copied", number)
	}
	return nil
}

// AbortMultipart ends the upload and removes its parts; an unknown upload
// is not an error. A part being PUT meanwhile fails with 404.
func (d *Disk) AbortMultipart(ctx context.Context, key, uploadID string) error {
	dir, err := d.upload(key, uploadID)
	if media.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	claimed, err := d.claim(dir)
	if media.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	_ = syncDir(d.uploadsDir())
	if err := os.RemoveAll(claimed); err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	return nil
}

// staleAfter is the age past which ListMultipart removes the temporary
// folders of .multipart a crash left behind.
const staleAfter = 24 * time.Hour

// ListMultipart calls fn for every upload in progress whose key starts
// with prefix, by key then by initiation time. It also removes what a crash
// left behind in the uploads' folder.
func (d *Disk) ListMultipart(ctx context.Context, prefix string, fn func(media.MultipartInfo) error) error {
	entries, err := os.ReadDir(d.uploadsDir())
	if isNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	var ups []media.MultipartInfo
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			// A folder being created, or claimed by a Complete or Abort.
			// One a day old was left by a crash: remove it.
			if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > staleAfter {
				_ = os.RemoveAll(filepath.Join(d.uploadsDir(), e.Name()))
			}
			continue
		}
		if !e.IsDir() || !validUploadID(e.Name()) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		info, err := readUploadInfo(filepath.Join(d.uploadsDir(), e.Name()))
		if media.IsNotFound(err) {
			continue // ended meanwhile
		}
		if err != nil {
			return err
		}
		if strings.HasPrefix(info.Key, prefix) {
			ups = append(ups, media.MultipartInfo{Key: info.Key, UploadID: e.Name(), Initiated: info.Initiated})
		}
	}
	slices.SortFunc(ups, func(a, b media.MultipartInfo) int {
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return a.Initiated.Compare(b.Initiated)
	})
	for _, u := range ups {
		if err := fn(u); err != nil {
			return err
		}
	}
	return nil
}
