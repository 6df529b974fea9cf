package media

import (
	"encoding/base64"
	"io"
	"strings"
)

// Base64Content prepares base64 upload data for Upload: it strips a data: URL
// prefix ("data:image/png;base64,"), checks the alphabet and padding without
// decoding, and returns a streaming decoder with the exact decoded size and
// the MIME type the data URL declared, if any.
// Returns BAD_USER_INPUT if data is not valid standard base64.
func Base64Content(field, data string) (r io.Reader, size int64, declared string, err error) {
	if rest, ok := strings.CutPrefix(data, "data:"); ok {
		meta, payload, found := strings.Cut(rest, ",")
		mt, isB64 := strings.CutSuffix(meta, ";base64")
		if !found || !isB64 {
			return nil, 0, "", Invalid(field, "a data: URL must be base64 encoded (data:TYPE;base64,…)")
		}
		declared, data = mt, payload
	}
	bad := Invalid(field, "data is not valid base64 (standard alphabet, padded with '=')")
	if len(data)%4 != 0 {
		return nil, 0, "", bad
	}
	body := strings.TrimRight(data, "=")
	if len(data)-len(body) > 2 {
		return nil, 0, "", bad
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/') {
			return nil, 0, "", bad
		}
	}
	size = int64(len(body)) * 6 / 8
	return base64.NewDecoder(base64.StdEncoding, strings.NewReader(data)), size, declared, nil
}
