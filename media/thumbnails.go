package media

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// ThumbnailSizes are the widths and heights thumbnails are rendered at. A
// requested size is rounded up to the next one, so the thumbnails one image
// can have are few and a client cannot fill the store with renditions.
var ThumbnailSizes = []int{64, 128, 256, 320, 480, 640, 960, 1280, 1920}

// DefaultThumbnailSize is the box used when neither width nor height is given.
const DefaultThumbnailSize = 256

// maxThumbnailBytes bounds a cached thumbnail read back from the store.
const maxThumbnailBytes = 8 << 20

// thumbnailBox rounds a requested width and height up to allowed sizes; 0
// leaves that side free (the other one decides).
func thumbnailBox(width, height *int) (w, h int, err error) {
	snap := func(field string, v *int) (int, error) {
		if v == nil {
			return 0, nil
		}
		if *v < 1 || *v > 10_000 {
			return 0, Invalid(field, "%s must be between 1 and 10000", field)
		}
		i, _ := slices.BinarySearch(ThumbnailSizes, *v)
		return ThumbnailSizes[min(i, len(ThumbnailSizes)-1)], nil
	}
	if w, err = snap("width", width); err != nil {
		return 0, 0, err
	}
	if h, err = snap("height", height); err != nil {
		return 0, 0, err
	}
	if w == 0 && h == 0 {
		w, h = DefaultThumbnailSize, DefaultThumbnailSize
	}
	return w, h, nil
}

// parseThumbnailBox reads "WxH" from a thumbnail URL: only allowed sizes,
// in their one canonical spelling ("256x0", never "0256x256", "+256x256"
// or "-0x256"), so a box names one rendition and aliases cannot fill the
// store.
func parseThumbnailBox(s string) (w, h int, ok bool) {
	ws, hs, found := strings.Cut(s, "x")
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(hs)
	allowed := func(v int) bool { return v == 0 || slices.Contains(ThumbnailSizes, v) }
	return w, h, found && err1 == nil && err2 == nil && allowed(w) && allowed(h) && w+h > 0 && boxName(w, h) == s
}

// boxName is the canonical spelling of a thumbnail box.
func boxName(w, h int) string { return strconv.Itoa(w) + "x" + strconv.Itoa(h) }

// ThumbnailURL returns the URL of a rendition of an image that fits in
// width×height (rounded up to ThumbnailSizes), or nil when the file has
// none: it is not an image, or its content could not be decoded. PRIVATE
// files get a signed, expiring URL, as for downloads.
// Returns BAD_USER_INPUT for sizes out of range or a bad expiresIn.
func (s *Service) ThumbnailURL(ctx context.Context, f *File, width, height, expiresIn *int) (*string, error) {
	if _, err := require(ctx, ScopeMediaRead); err != nil {
		return nil, err
	}
	w, h, err := thumbnailBox(width, height)
	if err != nil {
		return nil, err
	}
	if s.Analyzer == nil || f.Type != TypeImage || f.Blurhash == nil {
		return nil, nil
	}
	box := boxName(w, h)
	base := s.Config.PublicURL + "/files/" + string(f.ID) + "/thumbnail/" + box
	q, err := s.urlQuery(f, f.Revision, "thumb:"+box, expiresIn)
	if err != nil {
		return nil, err
	}
	u := base + "?" + q.Encode()
	return &u, nil
}

// ThumbnailRequest asks for a rendition (GET /files/{id}/thumbnail/{box}).
type ThumbnailRequest struct {
	DownloadRequest
	// Box is "WxH" with sizes from ThumbnailSizes (0 for a free side).
	Box string
}

// Thumbnail is a rendered rendition, ready to serve.
type Thumbnail struct {
	Download    *Download
	Data        []byte
	ContentType string
}

// Thumbnail authorizes a thumbnail request like a download (the signature
// of a thumbnail URL is bound to its box and grants nothing else) and
// returns the rendition: from the store when it was rendered before,
// otherwise rendered now by a bounded pool of workers (concurrent requests
// for the same rendition wait for one render) and kept in the store next
// to the image's bytes.
// Returns NOT_FOUND for anything the caller may not read or a size that is
// not allowed, UNSUPPORTED_MEDIA_TYPE when the file cannot be rendered.
func (s *Service) Thumbnail(ctx context.Context, req ThumbnailRequest) (*Thumbnail, error) {
	w, h, ok := parseThumbnailBox(req.Box)
	if !ok || s.Analyzer == nil {
		return nil, Errorf(ENOTFOUND, "no such thumbnail")
	}
	box := boxName(w, h)
	d, err := s.authorize(ctx, req.DownloadRequest, "thumb:"+box)
	if err != nil {
		return nil, err
	}
	if ClassifyMIME(d.MimeType) != TypeImage {
		return nil, Errorf(EUNSUPPORTED, "file %s is not an image", d.File.ID)
	}
	key := d.key + ".thumb-" + box
	if data, err := s.readThumbnail(ctx, key); err == nil {
		return &Thumbnail{Download: d, Data: data, ContentType: http.DetectContentType(data)}, nil
	} else if !IsNotFound(err) {
		return nil, err
	}
	v, err, _ := s.thumbs.flight.Do(key, func() (any, error) {
		// Not the first caller's context: others wait for this render.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), analysisTimeout)
		defer cancel()
		return s.renderThumbnail(rctx, d, key, w, h)
	})
	if ErrorCode(err) == ETOOLARGE {
		return nil, Errorf(EUNSUPPORTED, "file %s has no thumbnail: it is too large to render", d.File.ID)
	}
	if err != nil {
		return nil, err
	}
	data := v.([]byte)
	return &Thumbnail{Download: d, Data: data, ContentType: http.DetectContentType(data)}, nil
}

func (s *Service) readThumbnail(ctx context.Context, key string) ([]byte, error) {
	rc, err := s.Blobs.Get(ctx, key, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, maxThumbnailBytes))
}

// renderThumbnail renders and stores one rendition, with at most
// Config.ThumbnailWorkers renders at a time.
func (s *Service) renderThumbnail(ctx context.Context, d *Download, key string, w, h int) ([]byte, error) {
	select {
	case s.thumbs.workers <- struct{}{}:
		defer func() { <-s.thumbs.workers }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	data, _, err := s.Analyzer.Thumbnail(ctx, d.MimeType, s.readerAt(ctx, d.key), d.Size, w, h)
	if err != nil {
		return nil, err
	}
	if err := s.Blobs.Put(ctx, key, bytes.NewReader(data), int64(len(data)), http.DetectContentType(data)); err != nil {
		// Serve it anyway; the next request renders again.
		s.Logger.WarnContext(ctx, "caching a thumbnail", "key", key, "err", err)
	}
	return data, nil
}

// deleteThumbnails deletes the cached renditions of a blob: thumbnails
// (KEY.thumb-WxH) and variants (KEY.thumb-SPEC).
func (s *Service) deleteThumbnails(ctx context.Context, b *Blob) error {
	if ClassifyMIME(b.MimeType) != TypeImage {
		return nil
	}
	var keys []string
	if err := s.Blobs.List(ctx, b.StorageKey+".thumb-", func(i BlobInfo) error {
		keys = append(keys, i.Key)
		return nil
	}); err != nil {
		return err
	}
	for _, k := range keys {
		if err := s.Blobs.Delete(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

// thumbnailOwner returns the key of the blob a cached rendition (a
// thumbnail or a variant) belongs to.
func thumbnailOwner(key string) (string, bool) {
	i := strings.LastIndex(key, ".thumb-")
	if i < 0 {
		return key, false
	}
	return key[:i], true
}

// urlQuery is the query of a file URL: the revision and, for a PRIVATE
// file, an expiry and a signature for kind.
func (s *Service) urlQuery(f *File, rev int, kind string, expiresIn *int) (url.Values, error) {
	q := url.Values{"rev": {strconv.Itoa(rev)}}
	if f.Visibility == VisibilityPrivate {
		ttl := DefaultURLExpiry
		if expiresIn != nil {
			if *expiresIn < 1 || int64(*expiresIn) > int64(MaxURLExpiry.Seconds()) {
				return nil, Invalid("expiresIn", "expiresIn must be between 1 and %d seconds", int(MaxURLExpiry.Seconds()))
			}
			ttl = secondsDuration(*expiresIn)
		}
		exp := s.Now().Add(ttl).Unix()
		q.Set("exp", strconv.FormatInt(exp, 10))
		q.Set("sig", s.sign(kind, f.ID, rev, exp))
	}
	return q, nil
}
