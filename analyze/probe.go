package analyze

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"time"
)

// probeFormats are the demuxers ffprobe may use: audio and video
// containers only, never playlists (hls, concat, …) that would make it open
// other URLs or files.
const probeFormats = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,ogg,mp3,wav,w64,flac,aac,avi,mpegts,mpeg,aiff,asf," +
	"flv,amr,caf,ape,wv,ac3,eac3,dts,truehd,mlp,tta,au,voc,rm,nut,ivf,dv,mxf,loas,m4v,h264,hevc,mpegvideo"

// probeOutputLimit bounds what is read of ffprobe's report.
const probeOutputLimit = 1 << 20

// probe asks ffprobe. The content is served to it over HTTP on the loopback
// interface with range requests (at an unguessable path, for the length of
// the call), so it can seek like in a file and reads only what it needs;
// only that protocol and audio and video demuxers are allowed.
func (a *Analyzer) probe(ctx context.Context, src *source) (avInfo, error) {
	release, err := a.acquire(ctx)
	if err != nil {
		return avInfo{}, err
	}
	defer release()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return avInfo{}, err
	}
	path := "/" + rand.Text()
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != path {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/octet-stream")
			http.ServeContent(w, r, "", time.Time{}, io.NewSectionReader(src, 0, src.size))
		}),
		ReadHeaderTimeout: 5 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	go srv.Serve(ln)
	defer srv.Close()

	cmd := exec.CommandContext(ctx, a.ffprobe, "-v", "error",
		"-protocol_whitelist", "http,tcp", "-format_whitelist", probeFormats,
		"-print_format", "json", "-show_format", "-show_streams",
		"http://"+ln.Addr().String()+path)
	cmd.Env = []string{} // no proxy settings
	var out bytes.Buffer
	cmd.Stdout = &limitedWriter{w: &out, n: probeOutputLimit}
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		return avInfo{}, err
	}
	return parseProbe(out.Bytes())
}

// parseProbe reads ffprobe's JSON report: the container's duration (else
// the longest stream's) and the first video stream's display size (its
// rotation applied).
func parseProbe(b []byte) (avInfo, error) {
	var p struct {
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
		Streams []struct {
			CodecType   string            `json:"codec_type"`
			Width       int               `json:"width"`
			Height      int               `json:"height"`
			Duration    string            `json:"duration"`
			Tags        map[string]string `json:"tags"`
			Disposition map[string]int    `json:"disposition"`
			SideData    []struct {
				Rotation *float64 `json:"rotation"`
			} `json:"side_data_list"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return avInfo{}, err
	}
	var info avInfo
	if d, err := strconv.ParseFloat(p.Format.Duration, 64); err == nil {
		info.duration = seconds(d)
	}
	longest := 0.0
	for _, s := range p.Streams {
		if d, err := strconv.ParseFloat(s.Duration, 64); err == nil && d > longest {
			longest = d
		}
		if s.CodecType != "video" || info.width != nil || s.Disposition["attached_pic"] == 1 {
			continue
		}
		w, h := s.Width, s.Height
		rot, _ := strconv.ParseFloat(s.Tags["rotate"], 64)
		for _, sd := range s.SideData {
			if sd.Rotation != nil {
				rot = *sd.Rotation
			}
		}
		if q := int(math.Round(rot/90)) % 2; q != 0 {
			w, h = h, w
		}
		info.width, info.height = dims(w, h)
	}
	if info.duration == nil {
		info.duration = seconds(longest)
	}
	if info.duration == nil && info.width == nil {
		return info, errors.New("ffprobe found no duration")
	}
	return info, nil
}

// limitedWriter fails writes past n bytes.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if len(p) > l.n {
		return 0, errors.New("ffprobe's report is too long")
	}
	l.n -= len(p)
	return l.w.Write(p)
}
