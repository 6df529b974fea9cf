package analyze

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"os/exec"
	"strconv"
	"strings"
)

// avInfo is what the audio and video parsers find.
type avInfo struct {
	duration      *float64
	width, height *int
}

func seconds(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 || v > 1e7 {
		return nil
	}
	v = math.Round(v*1000) / 1000
	return &v
}

func dims(w, h int) (*int, *int) {
	if w <= 0 || h <= 0 || w > 100_000 || h > 100_000 {
		return nil, nil
	}
	return &w, &h
}

// readAt reads n bytes at off (fewer at the end of the content).
func readAt(r io.ReaderAt, off, n, size int64) []byte {
	if off < 0 || off >= size || n <= 0 {
		return nil
	}
	b := make([]byte, min(n, size-off))
	m, _ := r.ReadAt(b, off)
	return b[:m]
}

// mediaInfo reads the duration (and video size) with the built-in parsers.
func mediaInfo(mimeType string, r io.ReaderAt, size int64) (avInfo, error) {
	head := readAt(r, 0, 64<<10, size)
	switch {
	case len(head) >= 12 && string(head[:4]) == "RIFF" && string(head[8:12]) == "WAVE":
		return wav(r, size)
	case len(head) >= 4 && string(head[:4]) == "fLaC":
		return flac(head)
	case len(head) >= 4 && string(head[:4]) == "OggS":
		return ogg(r, head, size)
	case len(head) >= 8 && (string(head[4:8]) == "ftyp" || string(head[4:8]) == "moov" || string(head[4:8]) == "mdat" || string(head[4:8]) == "wide"):
		return mp4(r, size)
	case len(head) >= 4 && binary.BigEndian.Uint32(head) == 0x1A45DFA3:
		return matroska(r, size)
	case strings.Contains(mimeType, "mpeg") || strings.Contains(mimeType, "mp3"):
		return mp3(r, head, size)
	}
	return avInfo{}, nil
}

// wav: the data chunk's size over the byte rate of the fmt chunk.
func wav(r io.ReaderAt, size int64) (avInfo, error) {
	var byteRate uint32
	for off := int64(12); off+8 <= size; {
		h := readAt(r, off, 8, size)
		if len(h) < 8 {
			break
		}
		id, n := string(h[:4]), int64(binary.LittleEndian.Uint32(h[4:]))
		switch id {
		case "fmt ":
			f := readAt(r, off+8, 16, size)
			if len(f) < 16 {
				return avInfo{}, malformed("the WAV fmt chunk is short")
			}
			byteRate = binary.LittleEndian.Uint32(f[8:])
		case "data":
			if byteRate == 0 {
				return avInfo{}, malformed("the WAV data chunk comes before its format")
			}
			n = min(n, size-off-8)
			return avInfo{duration: seconds(float64(n) / float64(byteRate))}, nil
		}
		off += 8 + n + n%2
	}
	return avInfo{}, malformed("the WAV file has no data chunk")
}

// flac: STREAMINFO's total samples over its sample rate.
func flac(head []byte) (avInfo, error) {
	if len(head) < 8+34 || head[4]&0x7F != 0 {
		return avInfo{}, malformed("the FLAC STREAMINFO block is missing")
	}
	si := head[8:]
	rate := uint32(si[10])<<12 | uint32(si[11])<<4 | uint32(si[12])>>4
	total := uint64(si[13]&0x0F)<<32 | uint64(binary.BigEndian.Uint32(si[14:]))
	if rate == 0 {
		return avInfo{}, malformed("the FLAC sample rate is zero")
	}
	if total == 0 {
		return avInfo{}, nil // unknown length (a stream)
	}
	return avInfo{duration: seconds(float64(total) / float64(rate))}, nil
}

// ogg: the last page's granule position over the sample rate of the first
// stream's identification header (Vorbis or Opus; Opus minus its pre-skip).
func ogg(r io.ReaderAt, head []byte, size int64) (avInfo, error) {
	if len(head) < 28 {
		return avInfo{}, malformed("the Ogg page is short")
	}
	segs := int(head[26])
	if len(head) < 27+segs+19 {
		return avInfo{}, malformed("the Ogg page is short")
	}
	body := head[27+segs:]
	var rate float64
	var preSkip float64
	switch {
	case len(body) >= 16 && body[0] == 1 && string(body[1:7]) == "vorbis":
		rate = float64(binary.LittleEndian.Uint32(body[12:]))
	case len(body) >= 19 && string(body[:8]) == "OpusHead":
		rate, preSkip = 48000, float64(binary.LittleEndian.Uint16(body[10:]))
	default:
		return avInfo{}, nil // another codec (FLAC, Theora): leave it to ffprobe
	}
	if rate == 0 {
		return avInfo{}, malformed("the Ogg sample rate is zero")
	}
	tail := readAt(r, max(0, size-64<<10), 64<<10, size)
	i := bytes.LastIndex(tail, []byte("OggS"))
	for i >= 0 && i+14 > len(tail) {
		i = bytes.LastIndex(tail[:i], []byte("OggS"))
	}
	if i < 0 {
		return avInfo{}, malformed("the Ogg file has no last page")
	}
	granule := binary.LittleEndian.Uint64(tail[i+6:])
	if granule == math.MaxUint64 {
		return avInfo{}, nil
	}
	return avInfo{duration: seconds((float64(granule) - preSkip) / rate)}, nil
}

// mp4: the movie header's duration over its time scale, and the size of the
// first video track (tkhd width/height, 16.16 fixed point). Boxes are
// walked by offset, so a moov at the end costs two small reads.
func mp4(r io.ReaderAt, size int64) (avInfo, error) {
	var info avInfo
	moov, moovSize, ok := findBox(r, 0, size, "moov")
	if !ok {
		return info, malformed("the MP4 file has no moov box")
	}
	body := readAt(r, moov, min(moovSize, 16<<20), size)
	if int64(len(body)) < min(moovSize, 16<<20) {
		return info, malformed("the MP4 moov box is truncated")
	}
	walk := func(b []byte, fn func(typ string, payload []byte) bool) {
		for len(b) >= 8 {
			n := int(binary.BigEndian.Uint32(b))
			typ := string(b[4:8])
			hdr := 8
			if n == 1 && len(b) >= 16 {
				n, hdr = int(binary.BigEndian.Uint64(b[8:])), 16
			}
			if n < hdr || n > len(b) {
				return
			}
			if !fn(typ, b[hdr:n]) {
				return
			}
			b = b[n:]
		}
	}
	walk(body, func(typ string, p []byte) bool {
		switch typ {
		case "mvhd":
			if len(p) >= 20 && p[0] == 0 {
				scale, dur := binary.BigEndian.Uint32(p[12:]), binary.BigEndian.Uint32(p[16:])
				if scale > 0 && dur != math.MaxUint32 {
					info.duration = seconds(float64(dur) / float64(scale))
				}
			} else if len(p) >= 32 && p[0] == 1 {
				scale, dur := binary.BigEndian.Uint32(p[20:]), binary.BigEndian.Uint64(p[24:])
				if scale > 0 && dur != math.MaxUint64 {
					info.duration = seconds(float64(dur) / float64(scale))
				}
			}
		case "trak":
			if info.width != nil {
				return true
			}
			var w, h int
			video := false
			walk(p, func(typ string, p []byte) bool {
				switch typ {
				case "tkhd":
					off := 76
					if len(p) > 0 && p[0] == 1 {
						off = 88
					}
					if len(p) >= off+8 {
						w, h = int(binary.BigEndian.Uint32(p[off:])>>16), int(binary.BigEndian.Uint32(p[off+4:])>>16)
					}
				case "mdia":
					walk(p, func(typ string, p []byte) bool {
						if typ == "hdlr" && len(p) >= 12 && string(p[8:12]) == "vide" {
							video = true
						}
						return true
					})
				}
				return true
			})
			if video {
				info.width, info.height = dims(w, h)
			}
		}
		return true
	})
	return info, nil
}

// findBox returns the payload offset and size of the first top-level box of type typ.
func findBox(r io.ReaderAt, off, size int64, typ string) (int64, int64, bool) {
	for i := 0; off+8 <= size && i < 1000; i++ {
		h := readAt(r, off, 16, size)
		if len(h) < 8 {
			return 0, 0, false
		}
		n, hdr := int64(binary.BigEndian.Uint32(h)), int64(8)
		switch {
		case n == 1 && len(h) >= 16:
			n, hdr = int64(binary.BigEndian.Uint64(h[8:])), 16
		case n == 0:
			n = size - off
		}
		if n < hdr {
			return 0, 0, false
		}
		if string(h[4:8]) == typ {
			return off + hdr, n - hdr, true
		}
		off += n
	}
	return 0, 0, false
}

// matroska: Segment › Info › Duration × TimecodeScale, and Segment ›
// Tracks › TrackEntry › Video › PixelWidth/PixelHeight. Clusters are
// skipped by their sizes.
func matroska(r io.ReaderAt, size int64) (avInfo, error) {
	var info avInfo
	const (
		idSegment   = 0x18538067
		idInfo      = 0x1549A966
		idTracks    = 0x1654AE6B
		idScale     = 0x2AD7B1
		idDuration  = 0x4489
		idEntry     = 0xAE
		idVideo     = 0xE0
		idPixelW    = 0xB0
		idPixelH    = 0xBA
		idCluster   = 0x1F43B675
		unknownSize = -1
	)
	// element reads an element header at off: id, data offset, data size.
	element := func(off int64) (id uint64, data, n int64, ok bool) {
		b := readAt(r, off, 16, size)
		id, l, ok1 := vint(b, false)
		if !ok1 {
			return 0, 0, 0, false
		}
		sz, l2, ok2 := vint(b[l:], true)
		if !ok2 {
			return 0, 0, 0, false
		}
		if int64(sz) < 0 || sz == math.MaxUint64 {
			return id, off + int64(l+l2), unknownSize, true
		}
		return id, off + int64(l+l2), int64(sz), true
	}
	uint := func(b []byte) uint64 {
		var v uint64
		for _, c := range b {
			v = v<<8 | uint64(c)
		}
		return v
	}
	_, data, n, ok := element(0) // EBML header
	if !ok || n < 0 {
		return info, malformed("the EBML header cannot be read")
	}
	id, seg, segSize, ok := element(data + n)
	if !ok || id != idSegment {
		return info, malformed("the Matroska file has no segment")
	}
	end := size
	if segSize != unknownSize {
		end = min(size, seg+segSize)
	}
	scale, dur := 1_000_000.0, -1.0
	var w, h int
	for off, i := seg, 0; off < end && i < 10_000; i++ {
		id, data, n, ok := element(off)
		if !ok || n == unknownSize {
			break
		}
		if id == idInfo || id == idTracks {
			b := readAt(r, data, min(n, 1<<20), size)
			var walk func(b []byte)
			walk = func(b []byte) {
				for len(b) > 0 {
					id, l, ok := vint(b, false)
					if !ok {
						return
					}
					sz, l2, ok := vint(b[l:], true)
					if !ok || uint64(len(b)-l-l2) < sz {
						return
					}
					p := b[l+l2 : l+l2+int(sz)]
					switch id {
					case idScale:
						scale = float64(uint(p))
					case idDuration:
						switch len(p) {
						case 4:
							dur = float64(math.Float32frombits(binary.BigEndian.Uint32(p)))
						case 8:
							dur = math.Float64frombits(binary.BigEndian.Uint64(p))
						}
					case idEntry, idVideo:
						walk(p)
					case idPixelW:
						if w == 0 {
							w = int(uint(p))
						}
					case idPixelH:
						if h == 0 {
							h = int(uint(p))
						}
					}
					b = b[l+l2+int(sz):]
				}
			}
			walk(b)
		}
		if id == idCluster && dur >= 0 && w > 0 {
			break
		}
		off = data + n
	}
	if dur >= 0 {
		info.duration = seconds(dur * scale / 1e9)
	}
	info.width, info.height = dims(w, h)
	return info, nil
}

// vint decodes an EBML variable-length integer; size keeps the marker bit
// off (and all ones means unknown: MaxUint64).
func vint(b []byte, size bool) (uint64, int, bool) {
	if len(b) == 0 || b[0] == 0 {
		return 0, 0, false
	}
	l := 1
	for mask := byte(0x80); b[0]&mask == 0; mask >>= 1 {
		l++
	}
	if l > 8 || len(b) < l {
		return 0, 0, false
	}
	v := uint64(b[0])
	if size {
		v &= uint64(0xFF >> l)
	}
	ones := v == uint64(0xFF>>l)
	for _, c := range b[1:l] {
		v = v<<8 | uint64(c)
		ones = ones && c == 0xFF
	}
	if size && ones {
		return math.MaxUint64, l, true
	}
	return v, l, true
}

var mp3Bitrates = [2][16]int{ // kbit/s, Layer III: MPEG-1, MPEG-2/2.5
	{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0},
	{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0},
}
var mp3Rates = [3][3]int{{44100, 48000, 32000}, {22050, 24000, 16000}, {11025, 12000, 8000}}

// mp3: the Xing/Info or VBRI frame count if the first frame has one, else
// the first frame's bit rate over the audio bytes (constant bit rate).
func mp3(r io.ReaderAt, head []byte, size int64) (avInfo, error) {
	off := int64(0)
	if len(head) >= 10 && string(head[:3]) == "ID3" {
		tag := int64(head[6]&0x7F)<<21 | int64(head[7]&0x7F)<<14 | int64(head[8]&0x7F)<<7 | int64(head[9]&0x7F)
		off = 10 + tag
		head = readAt(r, off, 64<<10, size)
	}
	for i := 0; i+4 <= len(head); i++ {
		if head[i] != 0xFF || head[i+1]&0xE0 != 0xE0 {
			continue
		}
		version := (head[i+1] >> 3) & 3 // 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
		layer := (head[i+1] >> 1) & 3   // 1: Layer III
		bi, ri := head[i+2]>>4, (head[i+2]>>2)&3
		if version == 1 || layer != 1 || bi == 0 || bi == 15 || ri == 3 {
			continue
		}
		v := 0
		rateRow := 0
		switch version {
		case 2:
			v, rateRow = 1, 1
		case 0:
			v, rateRow = 1, 2
		}
		bitrate, rate := mp3Bitrates[v][bi]*1000, mp3Rates[rateRow][ri]
		samples := 1152
		if version != 3 {
			samples = 576
		}
		frame := head[i:]
		mono := head[i+3]>>6 == 3
		side := 32
		switch {
		case version == 3 && mono:
			side = 17
		case version != 3 && mono:
			side = 9
		case version != 3:
			side = 17
		}
		if x := 4 + side; len(frame) >= x+12 && (string(frame[x:x+4]) == "Xing" || string(frame[x:x+4]) == "Info") {
			if binary.BigEndian.Uint32(frame[x+4:])&1 != 0 {
				frames := binary.BigEndian.Uint32(frame[x+8:])
				return avInfo{duration: seconds(float64(frames) * float64(samples) / float64(rate))}, nil
			}
		}
		if len(frame) >= 36+18 && string(frame[36:40]) == "VBRI" {
			frames := binary.BigEndian.Uint32(frame[36+14:])
			return avInfo{duration: seconds(float64(frames) * float64(samples) / float64(rate))}, nil
		}
		audio := size - off - int64(i)
		if t := readAt(r, size-128, 3, size); string(t) == "TAG" {
			audio -= 128
		}
		return avInfo{duration: seconds(float64(audio) * 8 / float64(bitrate))}, nil
	}
	return avInfo{}, malformed("no MP3 frame found")
}

// probe asks ffprobe, reading the content from a pipe.
func (a *Analyzer) probe(ctx context.Context, r io.ReaderAt, size int64) (avInfo, error) {
	cmd := exec.CommandContext(ctx, a.ffprobe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams", "-i", "pipe:0")
	cmd.Stdin = io.NewSectionReader(r, 0, size)
	var out bytes.Buffer
	cmd.Stdout = &limited{w: &out, n: 1 << 20}
	if err := cmd.Run(); err != nil {
		return avInfo{}, err
	}
	var p struct {
		Format  struct{ Duration string }
		Streams []struct {
			CodecType string `json:"codec_type"`
			Width     int
			Height    int
		}
	}
	if err := json.Unmarshal(out.Bytes(), &p); err != nil {
		return avInfo{}, err
	}
	var info avInfo
	if d, err := strconv.ParseFloat(p.Format.Duration, 64); err == nil {
		info.duration = seconds(d)
	}
	for _, s := range p.Streams {
		if s.CodecType == "video" && info.width == nil {
			info.width, info.height = dims(s.Width, s.Height)
		}
	}
	return info, nil
}

type limited struct {
	w io.Writer
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	if len(p) > l.n {
		return 0, io.ErrShortWrite
	}
	l.n -= len(p)
	return l.w.Write(p)
}
