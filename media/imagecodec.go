package media

import (
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"
)

// ImageCodec is a decoder this server trusts with untrusted content: the
// standard library's and golang.org/x/image's, which read with bounded
// memory and can be interrupted between reads.
type ImageCodec struct {
	// Format is the name image.Decode would give ("jpeg", "png", …).
	Format       string
	Decode       func(io.Reader) (image.Image, error)
	DecodeConfig func(io.Reader) (image.Config, error)
}

// imageCodecs are chosen by the same magic numbers the packages register
// with package image. They are looked up here rather than through
// image.Decode because other packages linked into the binary register
// decoders of their own (the WebAssembly WebP and AVIF codecs used to
// encode variants would otherwise decode uploads, without a context and
// reading whole files).
var imageCodecs = []struct {
	magic string
	codec ImageCodec
}{
	{"\xff\xd8", ImageCodec{"jpeg", jpeg.Decode, jpeg.DecodeConfig}},
	{"\x89PNG\r\n\x1a\n", ImageCodec{"png", png.Decode, png.DecodeConfig}},
	{"GIF87a", ImageCodec{"gif", gif.Decode, gif.DecodeConfig}},
	{"GIF89a", ImageCodec{"gif", gif.Decode, gif.DecodeConfig}},
	{"RIFF????WEBPVP8", ImageCodec{"webp", webp.Decode, webp.DecodeConfig}},
	{"BM????\x00\x00\x00\x00", ImageCodec{"bmp", bmp.Decode, bmp.DecodeConfig}},
	{"II*\x00", ImageCodec{"tiff", tiff.Decode, tiff.DecodeConfig}},
	{"MM\x00*", ImageCodec{"tiff", tiff.Decode, tiff.DecodeConfig}},
}

// ImageCodecFor returns the decoder for an image's leading bytes, or false
// when none of ours reads it (the equivalent of image.ErrFormat).
func ImageCodecFor(head []byte) (ImageCodec, bool) {
	for _, c := range imageCodecs {
		if matchMagic(c.magic, head) {
			return c.codec, true
		}
	}
	return ImageCodec{}, false
}

// matchMagic is image's matcher: '?' matches any byte.
func matchMagic(magic string, b []byte) bool {
	if len(b) < len(magic) {
		return false
	}
	for i, c := range []byte(magic) {
		if c != b[i] && c != '?' {
			return false
		}
	}
	return true
}
