package analyze

import (
	"bufio"
	"context"
	"errors"
	"io"
	"sync"
)

const (
	// blockSize is the unit of the header cache: a small read costs one
	// ranged read of this size, and the next small reads nearby cost none.
	blockSize = 64 << 10
	// cachedBlocks bounds the cache (512 KiB).
	cachedBlocks = 8
	// bufferSize is the buffer of sequential reads (image decoding, JSON).
	bufferSize = 256 << 10
)

// source is the content being analysed: the caller's io.ReaderAt limited
// to size bytes, stopped by ctx, remembering the first read failure (which
// makes the call fail instead of blaming the content), with a small cache
// of aligned blocks for the many small reads of header parsers. Reads of a
// block or more go straight through. It is safe for concurrent use.
type source struct {
	ctx  context.Context
	r    io.ReaderAt
	size int64

	mu     sync.Mutex
	err    error
	blocks []cachedBlock // most recently used last
}

type cachedBlock struct {
	off  int64
	data []byte
}

func newSource(ctx context.Context, r io.ReaderAt, size int64) *source {
	return &source{ctx: ctx, r: r, size: max(size, 0)}
}

// Err returns the first failure of the underlying reader, if any.
func (s *source) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *source) fail(err error) {
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return // short content: the content's problem, not the store's
	}
	if s.ctx.Err() != nil {
		return // the call ended; that is reported as such
	}
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}

// readThrough reads from the underlying reader.
func (s *source) readThrough(p []byte, off int64) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := s.r.ReadAt(p, off)
	if n > len(p) || n < 0 {
		n, err = 0, errors.New("the reader returned an invalid count")
	}
	if n < len(p) && err == nil {
		err = io.ErrUnexpectedEOF
	}
	if n == len(p) {
		err = nil
	}
	s.fail(err)
	return n, err
}

// ReadAt implements io.ReaderAt within the content's size.
func (s *source) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if off >= s.size {
		return 0, io.EOF
	}
	want := p
	if rest := s.size - off; int64(len(p)) > rest {
		p = p[:rest]
	}
	var n int
	var err error
	if len(p) >= blockSize {
		n, err = s.readThrough(p, off)
	} else {
		n, err = s.readCached(p, off)
	}
	if err == nil && n < len(want) {
		err = io.EOF
	}
	return n, err
}

func (s *source) readCached(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		b, err := s.block((off + int64(n)) / blockSize * blockSize)
		i := int((off + int64(n)) % blockSize)
		if i >= len(b) {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return n, err
		}
		n += copy(p[n:], b[i:])
		if err != nil && n < len(p) {
			return n, err
		}
	}
	return n, nil
}

// block returns the cached block at off (a multiple of blockSize).
func (s *source) block(off int64) ([]byte, error) {
	s.mu.Lock()
	for i, b := range s.blocks {
		if b.off == off {
			s.blocks = append(append(s.blocks[:i:i], s.blocks[i+1:]...), b)
			s.mu.Unlock()
			return b.data, nil
		}
	}
	s.mu.Unlock()
	buf := make([]byte, min(blockSize, s.size-off))
	n, err := s.readThrough(buf, off)
	if err != nil {
		return buf[:n], err
	}
	s.mu.Lock()
	if len(s.blocks) >= cachedBlocks {
		s.blocks = append(s.blocks[:0:0], s.blocks[1:]...)
	}
	s.blocks = append(s.blocks, cachedBlock{off, buf})
	s.mu.Unlock()
	return buf, nil
}

// bytesAt returns up to n bytes at off (fewer at the end of the content or
// when reading fails, which Err then reports).
func (s *source) bytesAt(off, n int64) []byte {
	if off < 0 || off >= s.size || n <= 0 {
		return nil
	}
	b := make([]byte, min(n, s.size-off))
	m, _ := s.ReadAt(b, off)
	return b[:m]
}

// reader reads the content sequentially from off through a large buffer.
func (s *source) reader(off int64) *bufio.Reader {
	return bufio.NewReaderSize(io.NewSectionReader(s, off, max(0, s.size-off)), bufferSize)
}
