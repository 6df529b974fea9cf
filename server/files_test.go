package server

import "testing"

func TestDisposition(t *testing.T) {
	for _, c := range []struct{ mt, name, want string }{
		{"image/png", "a.png", `inline; filename="a.png"; filename*=UTF-8''a.png`},
		{"application/zip", `we"ird;name=x.zip`, `attachment; filename="we_ird;name=x.zip"; filename*=UTF-8''we%22ird%3Bname%3Dx.zip`},
		{"text/html", "é.html", `attachment; filename="_.html"; filename*=UTF-8''%C3%A9.html`},
		{"image/svg+xml", "x.svg", `inline; filename="x.svg"; filename*=UTF-8''x.svg`},
	} {
		if got := disposition(c.mt, c.name); got != c.want {
			t.Errorf("disposition(%q, %q) = %s, want %s", c.mt, c.name, got, c.want)
		}
	}
}
