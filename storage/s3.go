package storage

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"go.opentelemetry.io/contrib/instrumentation/github.com/aws/aws-sdk-go-v2/otelaws"
	"go.opentelemetry.io/otel/propagation"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/mediagraph/mediagraph/media"
)

// PartSize is the size of the parts of a multipart upload, and the largest
// object stored with a single PutObject. Put buffers one part at a time, so
// an upload holds at most PartSize bytes whatever the object's size; every
// request body is then a bytes.Reader, which the SDK can sign, checksum and
// retry over plain HTTP as well as HTTPS.
const PartSize = 8 << 20

// maxParts is S3's limit on the parts of one multipart upload.
const maxParts = 10_000

// MaxBuffered bounds the bytes all of an S3's uploads in flight buffer
// together; further uploads wait (or give up when their context ends).
const MaxBuffered = 16 * PartSize

// S3 keeps objects in one bucket of an S3-compatible store.
type S3 struct {
	client  *s3.Client
	presign *s3.PresignClient
	bucket  string
	buffers *semaphore.Weighted
}

var _ media.Blobs = (*S3)(nil)

// NewS3 returns an S3 store over an injected client.
func NewS3(client *s3.Client, bucket string) *S3 {
	return &S3{client: client, presign: s3.NewPresignClient(client), bucket: bucket,
		buffers: semaphore.NewWeighted(MaxBuffered)}
}

// OpenS3 opens s3://BUCKET?endpoint=URL&region=R&path_style=true&checksum=when_required.
// Every parameter is optional: endpoint defaults to AWS, region to the AWS
// configuration (or us-east-1), path_style to false. Credentials come from
// the standard AWS chain (environment, shared files, IMDS). checksum is
// when_supported (the SDK's default: a CRC32 with every upload) or
// when_required (only where the API demands one), for stores that reject
// the SDK's default checksums.
func OpenS3(ctx context.Context, rawURL string, opts ...Option) (*S3, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "s3" || u.Host == "" || strings.Trim(u.Path, "/") != "" {
		return nil, errors.New("storage: the storage URL must look like s3://BUCKET?endpoint=…&region=…")
	}
	q := u.Query()
	for k := range q {
		switch k {
		case "endpoint", "region", "path_style", "checksum":
		default:
			return nil, fmt.Errorf("storage: unknown S3 URL parameter %q (want endpoint, region, path_style or checksum)", k)
		}
	}
	var load []func(*config.LoadOptions) error
	if r := q.Get("region"); r != "" {
		load = append(load, config.WithRegion(r))
	}
	switch c := q.Get("checksum"); c {
	case "", "when_supported":
		load = append(load,
			config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenSupported),
			config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenSupported))
	case "when_required":
		load = append(load,
			config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
			config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired))
	default:
		return nil, fmt.Errorf("storage: checksum must be when_supported or when_required, not %q", c)
	}
	pathStyle := false
	if v := q.Get("path_style"); v != "" {
		if pathStyle, err = strconv.ParseBool(v); err != nil {
			return nil, fmt.Errorf("storage: path_style must be true or false, not %q", v)
		}
	}
	endpoint := q.Get("endpoint")
	if endpoint != "" {
		if e, err := url.Parse(endpoint); err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
			return nil, errors.New("storage: the S3 endpoint must be an http:// or https:// URL")
		}
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("storage: aws config: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1" // S3-compatible stores rarely care, the SDK does
	}
	s3opts := func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.UsePathStyle = pathStyle
		o.DisableLogOutputChecksumValidationSkipped = true
	}
	client := s3.NewFromConfig(cfg, s3opts)
	s := NewS3(client, u.Host)
	if o.tracerProvider != nil {
		// A span per S3 call, from the SDK's middleware stack. Presigning
		// sends nothing and stays without spans (the client made above).
		// No trace headers go to the store.
		traced := cfg.Copy()
		otelaws.AppendMiddlewares(&traced.APIOptions, otelaws.WithTracerProvider(o.tracerProvider),
			otelaws.WithTextMapPropagator(propagation.NewCompositeTextMapPropagator()))
		s.client = s3.NewFromConfig(traced, s3opts)
	}
	return s, nil
}

// EnsureBucket creates the bucket if it does not exist.
func (s *S3) EnsureBucket(ctx context.Context) error {
	if _, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket}); err == nil {
		return nil
	}
	in := &s3.CreateBucketInput{Bucket: &s.bucket}
	if r := s.client.Options().Region; r != "" && r != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(r)}
	}
	_, err := s.client.CreateBucket(ctx, in)
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return s.wrap(err)
	}
	return nil
}

var partPool = sync.Pool{New: func() any { b := make([]byte, PartSize); return &b }}

// Put stores exactly size bytes from r, which need not be seekable: up to
// PartSize with one PutObject, beyond that with a multipart upload of
// PartSize parts sent one after the other, aborted on any failure so
// nothing is left. It buffers at most PartSize bytes, and waits while the
// S3's uploads together hold MaxBuffered. If r holds fewer or more than
// size bytes, nothing is stored and the error is io.ErrUnexpectedEOF or
// errLong. A negative size stores all r holds (putUnknown).
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	switch {
	case size < 0:
		return s.putUnknown(ctx, key, r, contentType)
	case size > maxParts*PartSize:
		return media.Errorf(media.ETOOLARGE, "the object is larger than the store accepts (%d bytes)", int64(maxParts*PartSize))
	}
	if ra, n, ok := sections(r); ok {
		switch {
		case n < size:
			return errShort
		case n > size:
			return errLong
		}
		return s.putSections(ctx, key, ra, size, contentType)
	}
	bufSize := min(size, PartSize)
	if err := s.buffers.Acquire(ctx, bufSize); err != nil {
		return err
	}
	defer s.buffers.Release(bufSize)
	r = ctxReader{ctx, r}
	if size <= PartSize {
		buf := make([]byte, size)
		if _, err := io.ReadFull(r, buf); err != nil {
			return shortRead(err)
		}
		if err := ensureEnd(r); err != nil {
			return err
		}
		_, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &key,
			Body: bytes.NewReader(buf), ContentLength: aws.Int64(size), ContentType: nonEmpty(contentType)})
		return s.wrap(err)
	}
	return s.putMultipart(ctx, key, r, size, contentType)
}

func (s *S3) putMultipart(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	bufp := partPool.Get().(*[]byte)
	defer partPool.Put(bufp)
	buf := *bufp

	// Like the SDK's transfer manager: with checksums on, the upload is
	// created with CRC32, each part carries its CRC32 (which the store
	// verifies), and the completion lists them; with when_required, none.
	var algo types.ChecksumAlgorithm
	if s.client.Options().RequestChecksumCalculation != aws.RequestChecksumCalculationWhenRequired {
		algo = types.ChecksumAlgorithmCrc32
	}
	up, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &key,
		ContentType: nonEmpty(contentType), ChecksumAlgorithm: algo})
	if err != nil {
		return s.wrap(err)
	}
	abort := func(cause error) error {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_, _ = s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &key, UploadId: up.UploadId})
		return cause
	}
	var parts []types.CompletedPart
	for n, left := int32(1), size; left > 0; n++ {
		want := min(left, PartSize)
		if _, err := io.ReadFull(r, buf[:want]); err != nil {
			return abort(shortRead(err))
		}
		if left == want { // the last part: check r ends here before sending it
			if err := ensureEnd(r); err != nil {
				return abort(err)
			}
		}
		res, err := s.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &s.bucket, Key: &key, UploadId: up.UploadId,
			PartNumber: aws.Int32(n), Body: bytes.NewReader(buf[:want]), ContentLength: aws.Int64(want),
			ChecksumAlgorithm: algo})
		if err != nil {
			return abort(s.wrap(err))
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(n), ETag: res.ETag, ChecksumCRC32: res.ChecksumCRC32})
		left -= want
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &s.bucket, Key: &key,
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if err != nil {
		return abort(s.wrap(err))
	}
	return nil
}

// putUnknown stores content whose length is not known in advance (a file
// part streamed from its request). With a size hint (media.SizeHint) it
// goes in one PutObject sent while r is read, with no buffer (putStream).
// Otherwise it is read in PartSize parts from pooled buffers: one
// PutObject if it fits one, else a multipart upload.
func (s *S3) putUnknown(ctx context.Context, key string, r io.Reader, contentType string) error {
	if hint := media.SizeHint(ctx); hint > 0 && hint <= maxPutSize {
		return s.putStream(ctx, key, r, hint, contentType)
	}
	if err := s.buffers.Acquire(ctx, PartSize); err != nil {
		return err
	}
	defer s.buffers.Release(PartSize)
	bufp := partPool.Get().(*[]byte)
	defer partPool.Put(bufp)
	buf := *bufp
	r = ctxReader{ctx, r}
	n, err := io.ReadFull(r, buf)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		_, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &key,
			Body: bytes.NewReader(buf[:n]), ContentLength: aws.Int64(int64(n)), ContentType: nonEmpty(contentType)}, s.checkedUnsigned)
		return s.wrap(err)
	case err != nil:
		return err
	}
	algo := s.checksumAlgorithm()
	up, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &key,
		ContentType: nonEmpty(contentType), ChecksumAlgorithm: algo})
	if err != nil {
		return s.wrap(err)
	}
	parts, err := s.sendParts(ctx, key, *up.UploadId, algo, 1, r, buf, len(buf))
	return s.complete(ctx, key, up.UploadId, parts, err)
}

// checksumAlgorithm is the algorithm multipart uploads are created with:
// CRC32 with checksums on (each part then carries its CRC32, which the
// store verifies, and the completion lists them, as the SDK's transfer
// manager does); none with when_required.
func (s *S3) checksumAlgorithm() types.ChecksumAlgorithm {
	if s.client.Options().RequestChecksumCalculation == aws.RequestChecksumCalculationWhenRequired {
		return ""
	}
	return types.ChecksumAlgorithmCrc32
}

// checkedUnsigned signs a request from a buffer with UNSIGNED-PAYLOAD when
// checksums are on: the CRC32 the SDK sends, which the store verifies,
// protects the bytes, and neither side hashes them with SHA-256 for the
// signature. With when_required the payload stays signed.
func (s *S3) checkedUnsigned(o *s3.Options) {
	if o.RequestChecksumCalculation != aws.RequestChecksumCalculationWhenRequired {
		payloadHash(unsignedPayload)(o)
	}
}

const unsignedPayload = "UNSIGNED-PAYLOAD"

// payloadHash signs a request with the given payload hash instead of
// hashing its body.
func payloadHash(sum string) func(*s3.Options) {
	return func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Finalize.Add(middleware.FinalizeMiddlewareFunc("KnownPayloadSHA256",
				func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
					return next.HandleFinalize(v4.SetPayloadHash(ctx, sum), in)
				}), middleware.Before)
		})
	}
}

// sendParts uploads r as parts of the multipart upload id, numbered from
// number on, each of len(buf) bytes but the last; the first have bytes of
// buf are already read from r. It returns the parts sent.
func (s *S3) sendParts(ctx context.Context, key, id string, algo types.ChecksumAlgorithm, number int32, r io.Reader, buf []byte, have int) ([]types.CompletedPart, error) {
	var parts []types.CompletedPart
	for {
		k, err := io.ReadFull(r, buf[have:])
		have += k
		end := err == io.EOF || err == io.ErrUnexpectedEOF
		if err != nil && !end {
			return parts, err
		}
		if have > 0 {
			res, err := s.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &s.bucket, Key: &key, UploadId: &id,
				PartNumber: aws.Int32(number), Body: bytes.NewReader(buf[:have]), ContentLength: aws.Int64(int64(have)),
				ChecksumAlgorithm: algo}, s.checkedUnsigned)
			if err != nil {
				return parts, s.wrap(err)
			}
			parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(number), ETag: res.ETag, ChecksumCRC32: res.ChecksumCRC32})
			number++
		}
		if end {
			return parts, nil
		}
		have = 0
	}
}

// complete completes a multipart upload with parts, or aborts it if err
// (the failure of its parts) or the completion fails.
func (s *S3) complete(ctx context.Context, key string, id *string, parts []types.CompletedPart, err error) error {
	if err == nil {
		_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &s.bucket, Key: &key,
			UploadId: id, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
		err = s.wrap(err)
	}
	if err != nil {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_, _ = s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &key, UploadId: id})
	}
	return err
}

// putStream stores content of unknown length that is probably hint bytes
// long, sent as r is read: no buffer, and the bytes go on while they still
// arrive. With checksums on it is one PutObject of hint bytes whose CRC32
// comes in a trailer (streamedPut); with when_required, the one part of a
// multipart upload (a store that refuses the SDK's checksums may refuse
// trailers too), which is aborted if r fails. Either way a request cut
// short stores nothing, even on a store that would keep a body cut short
// (versitygw keeps what an unsigned PUT sent before its connection
// closed). If r turns out shorter than hint, the object is padded to
// hint bytes and cut back; if longer, the rest is appended (refit) — the
// slow path, for requests framed unlike the hint assumed.
func (s *S3) putStream(ctx context.Context, key string, r io.Reader, hint int64, contentType string) error {
	r = ctxReader{ctx, r}
	body := &fitted{r: r, left: hint}
	var one [1]byte
	if s.checksumAlgorithm() == "" {
		up, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &key,
			ContentType: nonEmpty(contentType)})
		if err != nil {
			return s.wrap(err)
		}
		res, err := s.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &s.bucket, Key: &key, UploadId: up.UploadId,
			PartNumber: aws.Int32(1), Body: body, ContentLength: aws.Int64(hint)}, payloadHash(unsignedPayload), once)
		switch {
		case body.err != nil:
			return s.complete(ctx, key, up.UploadId, nil, body.err)
		case err != nil:
			return s.complete(ctx, key, up.UploadId, nil, s.wrap(err))
		}
		parts := []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: res.ETag}}
		if body.got < hint {
			if err := s.complete(ctx, key, up.UploadId, parts, nil); err != nil {
				return err
			}
			return s.refit(ctx, key, body.got, nil, contentType)
		}
		n, err := io.ReadFull(r, one[:])
		if n == 1 && hint < media.MinPartSize {
			// Too small a part to append to.
			if err := s.complete(ctx, key, up.UploadId, parts, nil); err != nil {
				return err
			}
			return s.refit(ctx, key, hint, io.MultiReader(bytes.NewReader(one[:]), r), contentType)
		}
		if n == 1 {
			more, err := s.buffered(ctx, func(buf []byte) ([]types.CompletedPart, error) {
				return s.sendParts(ctx, key, *up.UploadId, "", 2, r, buf, copy(buf, one[:]))
			})
			parts = append(parts, more...)
			return s.complete(ctx, key, up.UploadId, parts, err)
		}
		if err != io.EOF {
			return s.complete(ctx, key, up.UploadId, nil, err)
		}
		return s.complete(ctx, key, up.UploadId, parts, nil)
	}
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &key,
		Body: body, ContentLength: aws.Int64(hint), ContentType: nonEmpty(contentType)}, streamedPut, once)
	switch {
	case body.err != nil:
		return body.err // the request was cut short: nothing is stored
	case err != nil:
		return s.wrap(err)
	case body.got < hint:
		return s.refit(ctx, key, body.got, nil, contentType)
	}
	switch n, err := io.ReadFull(r, one[:]); {
	case n == 1:
		return s.refit(ctx, key, hint, io.MultiReader(bytes.NewReader(one[:]), r), contentType)
	case err != io.EOF:
		s.remove(ctx, key)
		return err
	}
	return nil
}

// once sends a request from a stream once: it cannot be sent again, and
// the SDK would wait for its backoff before finding that out.
func once(o *s3.Options) { o.Retryer = aws.NopRetryer{} }

// buffered runs fn with a PartSize buffer from the pool, taken under the
// S3's bound on buffered bytes.
func (s *S3) buffered(ctx context.Context, fn func(buf []byte) ([]types.CompletedPart, error)) ([]types.CompletedPart, error) {
	if err := s.buffers.Acquire(ctx, PartSize); err != nil {
		return nil, err
	}
	defer s.buffers.Release(PartSize)
	bufp := partPool.Get().(*[]byte)
	defer partPool.Put(bufp)
	return fn(*bufp)
}

// streamedPut are the options of a PutObject from a stream with checksums
// on: the payload is not signed (its bytes are not known before they are
// sent), and its CRC32, which the store verifies, follows it in an
// aws-chunked trailer — the SDK's own over HTTPS, which it will not send
// over plain HTTP, so there the body is encoded here (chunkedTrailer).
func streamedPut(o *s3.Options) {
	if !strings.HasPrefix(aws.ToString(o.BaseEndpoint), "http://") {
		return
	}
	o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
		return st.Finalize.Add(middleware.FinalizeMiddlewareFunc("ChunkedTrailer",
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				req, ok := in.Request.(*smithyhttp.Request)
				if !ok {
					return middleware.FinalizeOutput{}, middleware.Metadata{}, fmt.Errorf("storage: unknown request type %T", in.Request)
				}
				n := req.ContentLength
				req, err := req.SetStream(&chunkedTrailer{r: req.GetStream(), left: n, crc: crc32.NewIEEE()})
				if err != nil {
					return middleware.FinalizeOutput{}, middleware.Metadata{}, err
				}
				req.ContentLength = chunkedLength(n)
				req.Header.Set("Content-Encoding", "aws-chunked")
				req.Header.Set("X-Amz-Trailer", crcTrailer)
				req.Header.Set("X-Amz-Decoded-Content-Length", strconv.FormatInt(n, 10))
				in.Request = req
				return next.HandleFinalize(v4.SetPayloadHash(ctx, "STREAMING-UNSIGNED-PAYLOAD-TRAILER"), in)
			}), middleware.Before)
	})
}

const crcTrailer = "x-amz-checksum-crc32"

// chunkedLength is the length of n bytes encoded by chunkedTrailer.
func chunkedLength(n int64) int64 {
	return int64(len(strconv.FormatInt(n, 16))) + n + int64(len("\r\n\r\n0\r\n"+crcTrailer+":XXXXXXXX==\r\n\r\n")) - 2
}

// chunkedTrailer encodes a body of left bytes as aws-chunked with an
// unsigned trailer holding its CRC32, as the SDK does over HTTPS: one chunk
// of all the bytes, the final chunk, the trailer.
//
//	<hex length>\r\n<bytes>\r\n0\r\nx-amz-checksum-crc32:<base64>\r\n\r\n
type chunkedTrailer struct {
	r       io.Reader
	left    int64
	crc     hash.Hash32
	started bool
	pending []byte // encoding not yet read
	done    bool   // the trailer is pending (or read)
}

func (c *chunkedTrailer) Read(p []byte) (int, error) {
	if !c.started {
		c.started = true
		c.pending = []byte(strconv.FormatInt(c.left, 16) + "\r\n")
	}
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	if c.left > 0 {
		if int64(len(p)) > c.left {
			p = p[:c.left]
		}
		n, err := c.r.Read(p)
		c.crc.Write(p[:n])
		c.left -= int64(n)
		if err == io.EOF && c.left > 0 {
			err = io.ErrUnexpectedEOF
		}
		if err == io.EOF {
			err = nil
		}
		return n, err
	}
	if c.done {
		return 0, io.EOF
	}
	c.done = true
	c.pending = []byte("\r\n0\r\n" + crcTrailer + ":" + base64.StdEncoding.EncodeToString(c.crc.Sum(nil)) + "\r\n\r\n")
	return c.Read(p)
}

// fitted reads exactly left bytes from r: r's bytes, then zeros if r ends
// first. got counts r's bytes; err is r's failure.
type fitted struct {
	r     io.Reader
	left  int64
	got   int64
	ended bool
	err   error
}

func (f *fitted) Read(p []byte) (int, error) {
	if f.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > f.left {
		p = p[:f.left]
	}
	if f.ended {
		clear(p)
		f.left -= int64(len(p))
		return len(p), nil
	}
	n, err := f.r.Read(p)
	f.got += int64(n)
	f.left -= int64(n)
	switch {
	case err == io.EOF:
		f.ended = true
		if n == 0 {
			return f.Read(p)
		}
	case err != nil:
		f.err = err
		return n, err
	}
	return n, nil
}

// refit makes key hold its own first keep bytes followed by what rest
// holds (nil: nothing): a multipart upload of key whose first part the
// store copies from the object itself, the rest uploaded in PartSize parts.
// A first part too small to be followed by others is read back instead
// and stored again with the rest (putUnknown, which reads it whole into
// its buffer before it writes). On failure key is deleted.
func (s *S3) refit(ctx context.Context, key string, keep int64, rest io.Reader, contentType string) error {
	err := func() error {
		if rest != nil && keep < media.MinPartSize {
			rc, err := s.Get(ctx, key, 0, keep)
			if err != nil {
				return err
			}
			defer rc.Close()
			return s.putUnknown(media.WithSizeHint(ctx, -1), key, io.MultiReader(rc, rest), contentType)
		}
		if keep == 0 && rest == nil {
			_, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &key,
				Body: bytes.NewReader(nil), ContentLength: aws.Int64(0), ContentType: nonEmpty(contentType)})
			return s.wrap(err)
		}
		algo := s.checksumAlgorithm()
		up, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &key,
			ContentType: nonEmpty(contentType), ChecksumAlgorithm: algo})
		if err != nil {
			return s.wrap(err)
		}
		source := (&url.URL{Path: s.bucket + "/" + key}).EscapedPath()
		cp, err := s.client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: &s.bucket, Key: &key, UploadId: up.UploadId,
			PartNumber: aws.Int32(1), CopySource: &source, CopySourceRange: aws.String(fmt.Sprintf("bytes=0-%d", keep-1))})
		if err != nil {
			return s.complete(ctx, key, up.UploadId, nil, s.wrap(err))
		}
		parts := []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: cp.CopyPartResult.ETag, ChecksumCRC32: cp.CopyPartResult.ChecksumCRC32}}
		if rest != nil {
			more, err := s.buffered(ctx, func(buf []byte) ([]types.CompletedPart, error) {
				return s.sendParts(ctx, key, *up.UploadId, algo, 2, rest, buf, 0)
			})
			if err != nil {
				return s.complete(ctx, key, up.UploadId, nil, err)
			}
			parts = append(parts, more...)
		}
		return s.complete(ctx, key, up.UploadId, parts, nil)
	}()
	if err != nil {
		s.remove(ctx, key)
	}
	return err
}

// remove deletes key after a failed Put, whatever ctx's state.
func (s *S3) remove(ctx context.Context, key string) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_ = s.Delete(dctx, key)
}

// Uploads from an io.ReaderAt (a file, or memory the caller holds anyway)
// need no buffers: every request body is a section of it, which the SDK can
// sign, checksum and retry. Up to sectionSingle bytes go in one PutObject,
// larger ones in parts of at least sectionPart bytes, sectionWorkers at a time.
const (
	sectionSingle  = 64 << 20
	sectionPart    = 16 << 20
	sectionWorkers = 4
)

// sections returns r as an io.ReaderAt with its whole length, if it is one
// whose length is known (a bytes.Reader, an io.SectionReader, a file).
func sections(r io.Reader) (io.ReaderAt, int64, bool) {
	ra, ok := r.(io.ReaderAt)
	if !ok {
		return nil, 0, false
	}
	switch v := r.(type) {
	case interface{ Size() int64 }:
		return ra, v.Size(), true
	case interface{ Stat() (os.FileInfo, error) }:
		if fi, err := v.Stat(); err == nil && fi.Mode().IsRegular() {
			return ra, fi.Size(), true
		}
	}
	return nil, 0, false
}

// putSections stores exactly size bytes of ra without copying them.
func (s *S3) putSections(ctx context.Context, key string, ra io.ReaderAt, size int64, contentType string) error {
	if size <= sectionSingle {
		var opts []func(*s3.Options)
		if sum := media.ContentSHA256(ctx); sum != "" {
			// The caller hashed the bytes already: sign with that hash
			// (the store verifies it) instead of hashing them again.
			opts = append(opts, payloadHash(sum))
		}
		_, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &key,
			Body: io.NewSectionReader(ra, 0, size), ContentLength: aws.Int64(size), ContentType: nonEmpty(contentType)}, opts...)
		return s.wrap(err)
	}
	partSize := max(int64(sectionPart), (size+maxParts-1)/maxParts)
	var algo types.ChecksumAlgorithm
	if s.client.Options().RequestChecksumCalculation != aws.RequestChecksumCalculationWhenRequired {
		algo = types.ChecksumAlgorithmCrc32
	}
	up, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &key,
		ContentType: nonEmpty(contentType), ChecksumAlgorithm: algo})
	if err != nil {
		return s.wrap(err)
	}
	count := int((size + partSize - 1) / partSize)
	parts := make([]types.CompletedPart, count)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(sectionWorkers)
	for i := range count {
		g.Go(func() error {
			off := int64(i) * partSize
			n := min(partSize, size-off)
			res, err := s.client.UploadPart(gctx, &s3.UploadPartInput{Bucket: &s.bucket, Key: &key, UploadId: up.UploadId,
				PartNumber: aws.Int32(int32(i + 1)), Body: io.NewSectionReader(ra, off, n), ContentLength: aws.Int64(n),
				ChecksumAlgorithm: algo})
			if err != nil {
				return s.wrap(err)
			}
			parts[i] = types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: res.ETag, ChecksumCRC32: res.ChecksumCRC32}
			return nil
		})
	}
	err = g.Wait()
	if err == nil {
		_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &s.bucket, Key: &key,
			UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
		err = s.wrap(err)
	}
	if err != nil {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_, _ = s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &key, UploadId: up.UploadId})
	}
	return err
}

// shortRead reports a reader that ended before size bytes as errShort.
func shortRead(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errShort
	}
	return err
}

// ensureEnd checks that r holds no more bytes.
func ensureEnd(r io.Reader) error {
	var one [1]byte
	if n, _ := io.ReadFull(r, one[:]); n > 0 {
		return errLong
	}
	return nil
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Get opens the object at offset for length bytes (length < 0: to the end).
func (s *S3) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	in := &s3.GetObjectInput{Bucket: &s.bucket, Key: &key}
	switch {
	case length == 0:
		if _, err := s.Stat(ctx, key); err != nil {
			return nil, err
		}
		return io.NopCloser(strings.NewReader("")), nil
	case length > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", offset, offset+length-1))
	case offset > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		var re interface{ HTTPStatusCode() int }
		if errors.As(err, &re) && re.HTTPStatusCode() == 416 {
			return io.NopCloser(strings.NewReader("")), nil // offset at or past the end
		}
		return nil, s.wrap(err)
	}
	return out.Body, nil
}

// Stat reports an object's size and modification time.
func (s *S3) Stat(ctx context.Context, key string) (media.BlobInfo, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return media.BlobInfo{}, s.wrap(err)
	}
	return media.BlobInfo{Key: key, Size: aws.ToInt64(out.ContentLength), Modified: aws.ToTime(out.LastModified)}, nil
}

// Delete removes an object; a missing one is not an error.
func (s *S3) Delete(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil && !media.IsNotFound(s.wrap(err)) {
		return s.wrap(err)
	}
	return nil
}

// List calls fn for every object whose key starts with prefix.
func (s *S3) List(ctx context.Context, prefix string, fn func(media.BlobInfo) error) error {
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return s.wrap(err)
		}
		for _, o := range page.Contents {
			if err := fn(media.BlobInfo{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), Modified: aws.ToTime(o.LastModified)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// maxPutSize is S3's limit on one PUT (here, of a part).
const maxPutSize = 5 << 30

// checkPutSize checks the size of a presigned part PUT.
func checkPutSize(size int64) error {
	switch {
	case size < 0:
		return media.Errorf(media.EINVALID, "the size must not be negative")
	case size > maxPutSize:
		return media.Errorf(media.ETOOLARGE, "one upload request may hold at most %d bytes", int64(maxPutSize))
	}
	return nil
}

func checkPartNumber(number int) error {
	if number < 1 || number > maxParts {
		return media.Errorf(media.EINVALID, "part numbers go from 1 to %d", maxParts)
	}
	return nil
}

// CreateMultipart starts a multipart upload whose parts clients PUT to
// presigned URLs. It asks for no checksum algorithm, whatever the checksum
// setting: a store would then demand that checksum with every part, and
// the clients' plain PUTs carry none. (The SDK calls made here still follow
// the setting.)
func (s *S3) CreateMultipart(ctx context.Context, key, contentType string) (string, error) {
	out, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &key,
		ContentType: nonEmpty(contentType)})
	if err != nil {
		return "", s.wrapUpload(err)
	}
	return aws.ToString(out.UploadId), nil
}

// PresignPart returns a URL that accepts PUTs of exactly size bytes as part
// number of the upload until expiry; the response's ETag header is the
// part's ETag. The Content-Length is a signed header, so the store refuses
// a body of any other length (SignatureDoesNotMatch). A size of 0 is the
// exception: the SDK signs no Content-Length of 0.
func (s *S3) PresignPart(ctx context.Context, key, uploadID string, number int, size int64, expires time.Duration) (string, error) {
	if err := checkPartNumber(number); err != nil {
		return "", err
	}
	if err := checkPutSize(size); err != nil {
		return "", err
	}
	req, err := s.presign.PresignUploadPart(ctx, &s3.UploadPartInput{Bucket: &s.bucket, Key: &key,
		UploadId: &uploadID, PartNumber: aws.Int32(int32(number)), ContentLength: aws.Int64(size)},
		s3.WithPresignExpires(expires))
	if err != nil {
		return "", s.wrap(err)
	}
	return req.URL, nil
}

// ListParts returns the parts of the upload stored so far, by number.
func (s *S3) ListParts(ctx context.Context, key, uploadID string) ([]media.Part, error) {
	var parts []media.Part
	p := s3.NewListPartsPaginator(s.client, &s3.ListPartsInput{Bucket: &s.bucket, Key: &key, UploadId: &uploadID})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, s.wrapUpload(err)
		}
		for _, part := range page.Parts {
			parts = append(parts, media.Part{Number: int(aws.ToInt32(part.PartNumber)), Size: aws.ToInt64(part.Size),
				ETag: aws.ToString(part.ETag)})
		}
	}
	slices.SortFunc(parts, func(a, b media.Part) int { return a.Number - b.Number })
	return parts, nil
}

// CompleteMultipart joins the parts into the object and ends the upload.
func (s *S3) CompleteMultipart(ctx context.Context, key, uploadID string, parts []media.Part) error {
	if len(parts) == 0 {
		return media.Errorf(media.EINVALID, "a multipart upload needs at least one part")
	}
	completed := make([]types.CompletedPart, len(parts))
	for i, p := range parts {
		if err := checkPartNumber(p.Number); err != nil {
			return err
		}
		if i > 0 && p.Number <= parts[i-1].Number {
			return media.Errorf(media.EINVALID, "the parts must be listed by number, ascending")
		}
		completed[i] = types.CompletedPart{PartNumber: aws.Int32(int32(p.Number)), ETag: aws.String(p.ETag)}
	}
	_, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &s.bucket, Key: &key,
		UploadId: &uploadID, MultipartUpload: &types.CompletedMultipartUpload{Parts: completed}})
	return s.wrapUpload(err)
}

// AbortMultipart ends the upload and drops its parts; an unknown upload is
// not an error.
func (s *S3) AbortMultipart(ctx context.Context, key, uploadID string) error {
	_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &key, UploadId: &uploadID})
	if err := s.wrapUpload(err); err != nil && !media.IsNotFound(err) {
		return err
	}
	return nil
}

// ListMultipart calls fn for every upload in progress whose key starts with prefix.
//
// It pages with a key-marker alone, set to the last key of a page but
// one, and skips the uploads of the last key it has already seen when the
// next page lists them again. The usual key-marker plus upload-id-marker
// fails with versitygw (v1.8.0 answers InvalidArgument "Invalid uploadId
// marker" to the markers it returned), and a key-marker alone, set to the
// last key, would skip that key's uploads past the page's end. Only when a
// page holds the uploads of a single key does it send both markers.
func (s *S3) ListMultipart(ctx context.Context, prefix string, fn func(media.MultipartInfo) error) error {
	in := &s3.ListMultipartUploadsInput{Bucket: &s.bucket, Prefix: &prefix}
	var (
		lastKey    string          // the greatest key seen so far
		lastIDs    map[string]bool // the uploads of lastKey passed to fn
		beforeLast *string         // the greatest key seen before lastKey
	)
	for {
		page, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return s.wrap(err)
		}
		for _, u := range page.Uploads {
			key, id := aws.ToString(u.Key), aws.ToString(u.UploadId)
			if key != lastKey || lastIDs == nil {
				if lastIDs != nil {
					beforeLast = aws.String(lastKey)
				}
				lastKey, lastIDs = key, map[string]bool{}
			}
			if lastIDs[id] {
				continue // listed again
			}
			lastIDs[id] = true
			if err := fn(media.MultipartInfo{Key: key, UploadID: id, Initiated: aws.ToTime(u.Initiated)}); err != nil {
				return err
			}
		}
		if !aws.ToBool(page.IsTruncated) {
			return nil
		}
		prevKey, prevID := aws.ToString(in.KeyMarker), aws.ToString(in.UploadIdMarker)
		if beforeLast != nil && *beforeLast > prevKey { // markers only move forward
			in.KeyMarker, in.UploadIdMarker = beforeLast, nil
			continue
		}
		// No progress that way: this page held only lastKey's uploads.
		nextKey, nextID := aws.ToString(page.NextKeyMarker), aws.ToString(page.NextUploadIdMarker)
		if nextKey == "" || nextKey == prevKey && nextID == prevID {
			return fmt.Errorf("storage: ListMultipartUploads is truncated but gives no new markers")
		}
		in.KeyMarker, in.UploadIdMarker = &nextKey, nonEmpty(nextID)
	}
}

// wrapUpload is wrap for calls about one multipart upload: an unknown
// upload is NOT_FOUND, and parts the store refuses are BAD_USER_INPUT.
func (s *S3) wrapUpload(err error) error {
	if err == nil {
		return nil
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NoSuchUpload":
			return &media.Error{Code: media.ENOTFOUND, Message: "upload not found", Err: err}
		case "InvalidPart":
			return &media.Error{Code: media.EINVALID, Message: "a part is missing or its ETag does not match", Err: err}
		case "InvalidPartOrder":
			return &media.Error{Code: media.EINVALID, Message: "the parts must be listed by number, ascending", Err: err}
		case "EntityTooSmall":
			return &media.Error{Code: media.EINVALID, Message: fmt.Sprintf("every part but the last must hold at least %d bytes", media.MinPartSize), Err: err}
		}
	}
	return s.wrap(err)
}

// Ping checks that the bucket answers.
func (s *S3) Ping(ctx context.Context) error {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket})
	return s.wrap(err)
}

// wrap turns SDK errors into media errors: a missing object is NOT_FOUND,
// an unreachable or failing store UNAVAILABLE. Messages never name keys or
// endpoints.
func (s *S3) wrap(err error) error {
	if err == nil {
		return nil
	}
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return notFound(err)
	}
	var api smithy.APIError
	isAPI := errors.As(err, &api)
	if isAPI && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound") {
		return notFound(err)
	}
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) && re.HTTPStatusCode() == 404 && !(isAPI && api.ErrorCode() == "NoSuchBucket") {
		return notFound(err)
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &re) && re.HTTPStatusCode() >= 500) || isAPI {
		return media.Unavailable("object storage", err)
	}
	return fmt.Errorf("storage: %w", err)
}
