package media

import (
	"bytes"
	"encoding/binary"
)

// JPEGSegments calls fn with the marker and payload of each metadata
// segment at the start of a JPEG (b holds its first bytes), in order,
// until fn returns false, the image data starts, or b ends. Fill bytes
// (0xFF runs) between segments are skipped. The payloads are slices of
// b. It is the one reader of JPEG metadata: analysis (orientation) and
// location stripping both walk segments with it.
func JPEGSegments(b []byte, fn func(marker byte, payload []byte) bool) {
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return
	}
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xFF {
			return
		}
		marker := b[i+1]
		if marker == 0xFF { // fill byte
			i++
			continue
		}
		if marker == 0xDA || marker == 0xD9 { // start of scan or end of image
			return
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return
		}
		if !fn(marker, b[i+4:i+2+n]) {
			return
		}
		i += 2 + n
	}
}

// stripJPEGLocation removes location data from the metadata at the start
// of a JPEG, in place (the file keeps its size and everything else): the
// EXIF GPS directory's entries and the values they point to are zeroed,
// and an XMP packet that mentions GPS coordinates is blanked. head must
// hold the JPEG's metadata segments (they come before the image data and
// are at most 64 KiB each). It reports whether anything was removed.
func stripJPEGLocation(head []byte) bool {
	changed := false
	JPEGSegments(head, func(marker byte, seg []byte) bool {
		if marker == 0xE1 {
			switch {
			case bytes.HasPrefix(seg, []byte("Exif\x00\x00")):
				changed = stripGPSIFD(seg[6:]) || changed
			case bytes.HasPrefix(seg, []byte(xmpHeader)) && bytes.Contains(seg, []byte("GPSL")):
				for j := len(xmpHeader); j < len(seg); j++ {
					seg[j] = ' '
				}
				changed = true
			}
		}
		return true
	})
	return changed
}

const xmpHeader = "http://ns.adobe.com/xap/1.0/\x00"

// stripGPSIFD empties the GPS directory of a TIFF structure (EXIF).
func stripGPSIFD(t []byte) bool {
	if len(t) < 8 {
		return false
	}
	var order binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		order = binary.LittleEndian
	case "MM":
		order = binary.BigEndian
	default:
		return false
	}
	ifd := int(order.Uint32(t[4:]))
	if ifd < 8 || ifd+2 > len(t) {
		return false
	}
	gps := -1
	for k := 0; k < int(order.Uint16(t[ifd:])); k++ {
		e := ifd + 2 + k*12
		if e+12 > len(t) {
			return false
		}
		if order.Uint16(t[e:]) == 0x8825 {
			gps = int(order.Uint32(t[e+8:]))
		}
	}
	if gps < 8 || gps+2 > len(t) {
		return false
	}
	count := int(order.Uint16(t[gps:]))
	if count == 0 {
		return false
	}
	sizes := map[uint16]int{1: 1, 2: 1, 6: 1, 7: 1, 3: 2, 8: 2, 4: 4, 9: 4, 11: 4, 5: 8, 10: 8, 12: 8}
	for k := 0; k < count; k++ {
		e := gps + 2 + k*12
		if e+12 > len(t) {
			break
		}
		total := sizes[order.Uint16(t[e+2:])] * int(order.Uint32(t[e+4:]))
		if off := int(order.Uint32(t[e+8:])); total > 4 && off >= 8 && off+total <= len(t) && total < 1<<16 {
			clear(t[off : off+total])
		}
		clear(t[e : e+12])
	}
	order.PutUint16(t[gps:], 0)
	return true
}
