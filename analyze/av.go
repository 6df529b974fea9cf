package analyze

import (
	"bytes"
	"encoding/binary"
	"math"
	"strings"
)

// avInfo is what the audio and video parsers find.
type avInfo struct {
	duration      *float64
	width, height *int
}

// seconds rounds a duration to the millisecond; nil when it is not one.
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

// mediaInfo reads the duration (and video size) with the built-in parsers,
// choosing one by the content's magic numbers (then by mimeType for MP3
// and ADTS, which have none).
func mediaInfo(mimeType string, src *source) (avInfo, error) {
	head := src.bytesAt(0, blockSize)
	if len(head) == 0 {
		return avInfo{}, malformed("the file is empty")
	}
	magic := func(off int, s string) bool { return len(head) >= off+len(s) && string(head[off:off+len(s)]) == s }
	switch {
	case (magic(0, "RIFF") || magic(0, "RF64")) && magic(8, "WAVE"):
		return wav(src, head)
	case magic(0, "FORM") && (magic(8, "AIFF") || magic(8, "AIFC")):
		return aiff(src)
	case magic(0, "fLaC"):
		return flac(head)
	case magic(0, "OggS"):
		return ogg(src, head)
	case magic(4, "ftyp") || magic(4, "moov") || magic(4, "mdat") || magic(4, "wide") || magic(4, "free") || magic(4, "skip"):
		return mp4(src)
	case len(head) >= 4 && binary.BigEndian.Uint32(head) == 0x1A45DFA3:
		return matroska(src)
	case mimeType == "audio/aac" || mimeType == "audio/x-aac" || (len(head) >= 2 && head[0] == 0xFF && head[1]&0xF6 == 0xF0):
		return adts(src, head)
	case magic(0, "ID3") || strings.Contains(mimeType, "mpeg") || strings.Contains(mimeType, "mp3"):
		return mp3(src, head)
	}
	return avInfo{}, nil
}

// wav: the data chunk's size over the fmt chunk's byte rate (RF64: the
// ds64 chunk's data size).
func wav(src *source, head []byte) (avInfo, error) {
	var byteRate uint32
	var size64 int64 = -1
	off := int64(12)
	for i := 0; off+8 <= src.size && i < 256; i++ {
		h := src.bytesAt(off, 8)
		if len(h) < 8 {
			break
		}
		id, n := string(h[:4]), int64(binary.LittleEndian.Uint32(h[4:]))
		switch id {
		case "ds64":
			if b := src.bytesAt(off+8, 16); len(b) == 16 {
				size64 = int64(binary.LittleEndian.Uint64(b[8:]))
			}
		case "fmt ":
			f := src.bytesAt(off+8, 16)
			if len(f) < 16 {
				return avInfo{}, malformed("the WAV fmt chunk is short")
			}
			byteRate = binary.LittleEndian.Uint32(f[8:])
		case "data":
			if byteRate == 0 {
				return avInfo{}, malformed("the WAV file has no byte rate before its data")
			}
			if n == 0xFFFFFFFF && size64 >= 0 {
				n = size64
			}
			n = min(n, src.size-off-8)
			return avInfo{duration: seconds(float64(n) / float64(byteRate))}, nil
		}
		off += 8 + n + n%2
	}
	return avInfo{}, malformed("the WAV file has no data chunk")
}

// aiff: COMM's sample frames over its sample rate (80-bit extended float).
func aiff(src *source) (avInfo, error) {
	off := int64(12)
	for i := 0; off+8 <= src.size && i < 256; i++ {
		h := src.bytesAt(off, 8)
		if len(h) < 8 {
			break
		}
		n := int64(binary.BigEndian.Uint32(h[4:]))
		if string(h[:4]) == "COMM" {
			c := src.bytesAt(off+8, 18)
			if len(c) < 18 {
				return avInfo{}, malformed("the AIFF COMM chunk is short")
			}
			frames := float64(binary.BigEndian.Uint32(c[2:]))
			exp := int(binary.BigEndian.Uint16(c[8:])&0x7FFF) - 16383 - 63
			rate := math.Ldexp(float64(binary.BigEndian.Uint64(c[10:])), exp)
			if !(rate > 0) {
				return avInfo{}, malformed("the AIFF sample rate is not positive")
			}
			return avInfo{duration: seconds(frames / rate)}, nil
		}
		off += 8 + n + n%2
	}
	return avInfo{}, malformed("the AIFF file has no COMM chunk")
}

// flac: STREAMINFO's total samples over its sample rate.
func flac(head []byte) (avInfo, error) {
	if len(head) < 8+34 || head[4]&0x7F != 0 {
		return avInfo{}, malformed("the FLAC STREAMINFO block is missing")
	}
	rate, total := flacStreamInfo(head[8:])
	if rate == 0 {
		return avInfo{}, malformed("the FLAC sample rate is zero")
	}
	if total == 0 {
		return avInfo{}, nil // unknown length (a stream)
	}
	return avInfo{duration: seconds(float64(total) / float64(rate))}, nil
}

func flacStreamInfo(si []byte) (rate uint32, total uint64) {
	rate = uint32(si[10])<<12 | uint32(si[11])<<4 | uint32(si[12])>>4
	total = uint64(si[13]&0x0F)<<32 | uint64(binary.BigEndian.Uint32(si[14:]))
	return rate, total
}

// ogg: the granule position of the first stream's last page over its
// sample rate (Vorbis, Opus minus its pre-skip, FLAC, Speex). The last page
// starts within the last 64 KiB of the stream's pages; a 256 KiB tail is
// read to get past other streams' pages.
func ogg(src *source, head []byte) (avInfo, error) {
	if len(head) < 28 || head[4] != 0 {
		return avInfo{}, malformed("the Ogg page header is short")
	}
	serial := binary.LittleEndian.Uint32(head[14:])
	segs := int(head[26])
	if len(head) < 27+segs {
		return avInfo{}, malformed("the Ogg page header is short")
	}
	body := head[27+segs:]
	var rate, preSkip float64
	switch {
	case len(body) >= 16 && body[0] == 1 && string(body[1:7]) == "vorbis":
		rate = float64(binary.LittleEndian.Uint32(body[12:]))
	case len(body) >= 19 && string(body[:8]) == "OpusHead":
		rate, preSkip = 48000, float64(binary.LittleEndian.Uint16(body[10:]))
	case len(body) >= 17+34 && string(body[:5]) == "\x7FFLAC" && string(body[9:13]) == "fLaC":
		r, _ := flacStreamInfo(body[17:])
		rate = float64(r)
	case len(body) >= 40 && string(body[:8]) == "Speex   ":
		rate = float64(binary.LittleEndian.Uint32(body[36:]))
	default:
		return avInfo{}, nil // another codec (Theora…): ffprobe's
	}
	if rate == 0 {
		return avInfo{}, malformed("the Ogg sample rate is zero")
	}
	const tailSize = 256 << 10
	start := max(0, src.size-tailSize)
	tail := src.bytesAt(start, tailSize)
	for i := len(tail); ; {
		i = bytes.LastIndex(tail[:i], []byte("OggS"))
		if i < 0 {
			return avInfo{}, malformed("the Ogg stream has no last page")
		}
		p := tail[i:]
		if len(p) < 27 || p[4] != 0 || binary.LittleEndian.Uint32(p[14:]) != serial {
			continue
		}
		granule := binary.LittleEndian.Uint64(p[6:])
		if granule == math.MaxUint64 {
			continue // no packet ends on this page
		}
		return avInfo{duration: seconds((float64(granule) - preSkip) / rate)}, nil
	}
}

// mp4: the movie header's duration over its time scale (or the movie
// extends header's, for fragmented files), and the size of the first video
// track (tkhd width/height, swapped when its matrix turns it a quarter).
// Boxes are walked by their offsets, reading only headers and the few small
// boxes needed, so a moov at the end of a large file costs a few reads.
func mp4(src *source) (avInfo, error) {
	var info avInfo
	var timescale uint32
	var duration, fragDuration uint64
	budget := 4096 // boxes visited
	// walk calls fn with the type, payload offset and payload size of the
	// boxes in [off, end).
	var walk func(off, end int64, fn func(typ string, p, n int64))
	walk = func(off, end int64, fn func(typ string, p, n int64)) {
		for off+8 <= end && budget > 0 {
			budget--
			h := src.bytesAt(off, 16)
			if len(h) < 8 {
				return
			}
			n, hdr := int64(binary.BigEndian.Uint32(h)), int64(8)
			switch {
			case n == 1 && len(h) >= 16:
				n, hdr = int64(binary.BigEndian.Uint64(h[8:])), 16
			case n == 0:
				n = end - off
			}
			if n < hdr || n > end-off {
				return
			}
			fn(string(h[4:8]), off+hdr, n-hdr)
			off += n
		}
	}
	foundMoov := false
	walk(0, src.size, func(typ string, p, n int64) {
		if typ != "moov" || foundMoov {
			return
		}
		foundMoov = true
		walk(p, p+n, func(typ string, p, n int64) {
			switch typ {
			case "mvhd":
				b := src.bytesAt(p, min(n, 32))
				if len(b) >= 20 && b[0] == 0 {
					timescale, duration = binary.BigEndian.Uint32(b[12:]), uint64(binary.BigEndian.Uint32(b[16:]))
					if duration == math.MaxUint32 {
						duration = 0
					}
				} else if len(b) >= 32 && b[0] == 1 {
					timescale, duration = binary.BigEndian.Uint32(b[20:]), binary.BigEndian.Uint64(b[24:])
					if duration == math.MaxUint64 {
						duration = 0
					}
				}
			case "mvex":
				walk(p, p+n, func(typ string, p, n int64) {
					if typ == "mehd" {
						b := src.bytesAt(p, min(n, 12))
						if len(b) >= 8 && b[0] == 0 {
							fragDuration = uint64(binary.BigEndian.Uint32(b[4:]))
						} else if len(b) >= 12 {
							fragDuration = binary.BigEndian.Uint64(b[4:])
						}
					}
				})
			case "trak":
				if info.width != nil {
					return
				}
				var w, h int
				video := false
				walk(p, p+n, func(typ string, p, n int64) {
					switch typ {
					case "tkhd":
						b := src.bytesAt(p, min(n, 96))
						off := 40
						if len(b) > 0 && b[0] == 1 {
							off = 52
						}
						if len(b) >= off+44 {
							m := func(i int) int32 { return int32(binary.BigEndian.Uint32(b[off+4*i:])) }
							w, h = int(binary.BigEndian.Uint32(b[off+36:])>>16), int(binary.BigEndian.Uint32(b[off+40:])>>16)
							if m(0) == 0 && m(4) == 0 && m(1) != 0 && m(3) != 0 {
								w, h = h, w // turned by 90° or 270°
							}
						}
					case "mdia":
						walk(p, p+n, func(typ string, p, n int64) {
							if typ == "hdlr" {
								if b := src.bytesAt(p, min(n, 12)); len(b) >= 12 && string(b[8:12]) == "vide" {
									video = true
								}
							}
						})
					}
				})
				if video {
					info.width, info.height = dims(w, h)
				}
			}
		})
	})
	if !foundMoov {
		return info, malformed("the MP4 file has no moov box")
	}
	if duration == 0 {
		duration = fragDuration
	}
	if timescale > 0 {
		info.duration = seconds(float64(duration) / float64(timescale))
	}
	return info, nil
}

// matroska: Segment › Info › Duration × TimecodeScale, and Segment ›
// Tracks › TrackEntry › Video › PixelWidth/PixelHeight. The segment's
// children are walked by their sizes up to the first Cluster; Info or
// Tracks that come later are found through the SeekHead.
func matroska(src *source) (avInfo, error) {
	var info avInfo
	const (
		idSegment  = 0x18538067
		idSeekHead = 0x114D9B74
		idSeek     = 0x4DBB
		idSeekID   = 0x53AB
		idSeekPos  = 0x53AC
		idInfo     = 0x1549A966
		idTracks   = 0x1654AE6B
		idScale    = 0x2AD7B1
		idDuration = 0x4489
		idEntry    = 0xAE
		idVideo    = 0xE0
		idPixelW   = 0xB0
		idPixelH   = 0xBA
		idCluster  = 0x1F43B675
		unknown    = -1
	)
	// element reads an element header at off: id, data offset, data size.
	element := func(off int64) (id uint64, data, n int64, ok bool) {
		b := src.bytesAt(off, 12)
		id, l, ok1 := vint(b, false)
		if !ok1 {
			return 0, 0, 0, false
		}
		sz, l2, ok2 := vint(b[l:], true)
		if !ok2 {
			return 0, 0, 0, false
		}
		if sz > math.MaxInt64/2 {
			return id, off + int64(l+l2), unknown, true
		}
		return id, off + int64(l+l2), int64(sz), true
	}
	uintOf := func(b []byte) uint64 {
		var v uint64
		for _, c := range b {
			v = v<<8 | uint64(c)
		}
		return v
	}
	// children calls fn with the child elements of an in-memory element.
	var children func(b []byte, fn func(id uint64, p []byte))
	children = func(b []byte, fn func(id uint64, p []byte)) {
		for len(b) > 0 {
			id, l, ok := vint(b, false)
			if !ok {
				return
			}
			sz, l2, ok := vint(b[l:], true)
			if !ok || uint64(len(b)-l-l2) < sz {
				return
			}
			fn(id, b[l+l2:l+l2+int(sz)])
			b = b[l+l2+int(sz):]
		}
	}
	_, data, n, ok := element(0) // EBML header
	if !ok || n == unknown {
		return info, malformed("the EBML header cannot be read")
	}
	id, seg, segSize, ok := element(data + n)
	if !ok || id != idSegment {
		return info, malformed("the Matroska file has no segment")
	}
	end := src.size
	if segSize != unknown {
		end = min(end, seg+segSize)
	}
	scale, dur := 1_000_000.0, -1.0
	var w, h int
	seen := map[uint64]bool{}
	seek := map[uint64]int64{}
	read := func(id uint64, data, n int64) {
		if seen[id] || n == unknown {
			return
		}
		seen[id] = true
		b := src.bytesAt(data, min(n, 1<<20))
		switch id {
		case idSeekHead:
			children(b, func(cid uint64, p []byte) {
				if cid != idSeek {
					return
				}
				var target uint64
				pos := int64(-1)
				children(p, func(id uint64, p []byte) {
					switch id {
					case idSeekID:
						target = uintOf(p)
					case idSeekPos:
						pos = int64(uintOf(p) & math.MaxInt32)
					}
				})
				if pos >= 0 {
					seek[target] = seg + pos
				}
			})
		case idInfo:
			children(b, func(id uint64, p []byte) {
				switch id {
				case idScale:
					scale = float64(uintOf(p))
				case idDuration:
					switch len(p) {
					case 4:
						dur = float64(math.Float32frombits(binary.BigEndian.Uint32(p)))
					case 8:
						dur = math.Float64frombits(binary.BigEndian.Uint64(p))
					}
				}
			})
		case idTracks:
			children(b, func(id uint64, p []byte) {
				if id != idEntry || w > 0 {
					return
				}
				children(p, func(id uint64, p []byte) {
					if id == idVideo {
						children(p, func(id uint64, p []byte) {
							switch id {
							case idPixelW:
								w = int(min(uintOf(p), 1<<30))
							case idPixelH:
								h = int(min(uintOf(p), 1<<30))
							}
						})
					}
				})
			})
		}
	}
	for off, i := seg, 0; off < end && i < 256; i++ {
		id, data, n, ok := element(off)
		if !ok || id == idCluster || n == unknown {
			break
		}
		read(id, data, n)
		off = data + n
	}
	for _, target := range []uint64{idInfo, idTracks} {
		if pos, ok := seek[target]; ok && !seen[target] {
			if id, data, n, ok := element(pos); ok && id == target {
				read(id, data, n)
			}
		}
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

// mp3Frame decodes an MPEG audio Layer III frame header.
type mp3Frame struct {
	mpeg1         bool
	mono          bool
	bitrate, rate int // bit/s, Hz
	length        int // bytes
	samples       int
}

func parseMP3Frame(b []byte) (mp3Frame, bool) {
	if len(b) < 4 || b[0] != 0xFF || b[1]&0xE0 != 0xE0 {
		return mp3Frame{}, false
	}
	version := (b[1] >> 3) & 3 // 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
	layer := (b[1] >> 1) & 3   // 1: Layer III
	bi, ri := b[2]>>4, (b[2]>>2)&3
	if version == 1 || layer != 1 || bi == 0 || bi == 15 || ri == 3 {
		return mp3Frame{}, false
	}
	f := mp3Frame{mpeg1: version == 3, mono: b[3]>>6 == 3}
	row := map[byte]int{3: 0, 2: 1, 0: 2}[version]
	f.bitrate = mp3Bitrates[min(row, 1)][bi] * 1000
	f.rate = mp3Rates[row][ri]
	pad := int(b[2]>>1) & 1
	if f.mpeg1 {
		f.samples, f.length = 1152, 144*f.bitrate/f.rate+pad
	} else {
		f.samples, f.length = 576, 72*f.bitrate/f.rate+pad
	}
	return f, true
}

// mp3: the Xing/Info or VBRI frame count when the first frame has one,
// else the audio bytes over the average bit rate of the frames in the first
// 64 KiB (exact for constant bit rates). A frame counts only when the next
// one follows where its length says.
func mp3(src *source, head []byte) (avInfo, error) {
	off := int64(0)
	if len(head) >= 10 && string(head[:3]) == "ID3" {
		tag := int64(head[6]&0x7F)<<21 | int64(head[7]&0x7F)<<14 | int64(head[8]&0x7F)<<7 | int64(head[9]&0x7F)
		off = 10 + tag
		if head[5]&0x10 != 0 { // footer
			off += 10
		}
		head = src.bytesAt(off, blockSize)
	}
	for i := 0; i+4 <= len(head); i++ {
		f, ok := parseMP3Frame(head[i:])
		if !ok {
			continue
		}
		if next := i + f.length; next+4 <= len(head) {
			if g, ok := parseMP3Frame(head[next:]); !ok || g.rate != f.rate {
				continue // a false sync
			}
		}
		frame := head[i:]
		side := 32
		switch {
		case f.mpeg1 && f.mono:
			side = 17
		case !f.mpeg1 && f.mono:
			side = 9
		case !f.mpeg1:
			side = 17
		}
		if x := 4 + side; len(frame) >= x+12 && (string(frame[x:x+4]) == "Xing" || string(frame[x:x+4]) == "Info") {
			if binary.BigEndian.Uint32(frame[x+4:])&1 != 0 {
				frames := binary.BigEndian.Uint32(frame[x+8:])
				return avInfo{duration: seconds(float64(frames) * float64(f.samples) / float64(f.rate))}, nil
			}
		}
		if len(frame) >= 36+18 && string(frame[36:40]) == "VBRI" {
			frames := binary.BigEndian.Uint32(frame[36+14:])
			return avInfo{duration: seconds(float64(frames) * float64(f.samples) / float64(f.rate))}, nil
		}
		// The average bit rate of the chain of frames in the head.
		var bits, secs float64
		for j := i; j+4 <= len(head); {
			g, ok := parseMP3Frame(head[j:])
			if !ok || g.rate != f.rate {
				break
			}
			bits += float64(g.length * 8)
			secs += float64(g.samples) / float64(g.rate)
			j += g.length
		}
		audio := src.size - off - int64(i)
		if t := src.bytesAt(src.size-128, 3); string(t) == "TAG" {
			audio -= 128
		}
		return avInfo{duration: seconds(float64(audio) * 8 / (bits / secs))}, nil
	}
	return avInfo{}, malformed("no MP3 frame found")
}

var adtsRates = [...]int{96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}

// adts: AAC in ADTS frames has no header with a length; the audio bytes
// over the average frame length of the first 64 KiB, times 1024 samples a
// frame, is a good estimate.
func adts(src *source, head []byte) (avInfo, error) {
	off := int64(0)
	if len(head) >= 10 && string(head[:3]) == "ID3" {
		off = 10 + (int64(head[6]&0x7F)<<21 | int64(head[7]&0x7F)<<14 | int64(head[8]&0x7F)<<7 | int64(head[9]&0x7F))
		head = src.bytesAt(off, blockSize)
	}
	var frames, bytesSeen, rate int
	for j := 0; j+7 <= len(head); {
		b := head[j:]
		if b[0] != 0xFF || b[1]&0xF6 != 0xF0 {
			break
		}
		ri := int(b[2]>>2) & 0xF
		length := int(b[3]&3)<<11 | int(b[4])<<3 | int(b[5])>>5
		blocks := int(b[6]&3) + 1
		if ri >= len(adtsRates) || length < 7 || (rate != 0 && adtsRates[ri] != rate) {
			break
		}
		rate = adtsRates[ri]
		frames += blocks
		bytesSeen += length
		j += length
	}
	if frames < 2 && int64(bytesSeen) < src.size-off {
		return avInfo{}, malformed("no ADTS frames found")
	}
	perFrame := float64(bytesSeen) / float64(frames)
	return avInfo{duration: seconds(float64(src.size-off) / perFrame * 1024 / float64(rate))}, nil
}
