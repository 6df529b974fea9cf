package media

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestWebhookClientChecksEveryConnection: the address is checked when the
// connection is made, not only when the URL was accepted — a host name
// that resolved to a public address at creation and to a private one at
// delivery (DNS rebinding) is not reached.
func TestWebhookClientChecksEveryConnection(t *testing.T) {
	hit := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit = true }))
	defer srv.Close()
	loopback := WebhookConfig{AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Timeout: 2 * time.Second}
	res, err := webhookClient(loopback.withDefaults()).Post(srv.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatalf("an allowed network: %v", err)
	}
	res.Body.Close()
	hit = false
	_, err = webhookClient(WebhookConfig{Timeout: 2 * time.Second}.withDefaults()).Post(srv.URL, "application/json", strings.NewReader("{}"))
	if err == nil || hit || !strings.Contains(err.Error(), "webhooks may not connect") {
		t.Fatalf("loopback without allowing it: %v (reached: %v)", err, hit)
	}
}

func TestWebhookReachable(t *testing.T) {
	cfg := WebhookConfig{AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	for addr, want := range map[string]bool{
		"127.0.0.1": true, "127.8.9.10": true, "93.184.215.14": true, "2606:4700::1111": true,
		"10.0.0.1": false, "172.16.0.1": false, "192.168.0.1": false, "169.254.169.254": false, "::1": false,
		"fe80::1": false, "fc00::1": false, "0.0.0.0": false, "100.64.0.1": false, "224.0.0.1": false,
		"::ffff:10.0.0.1": false, "::ffff:127.0.0.1": true, "255.255.255.255": false, "192.0.2.1": false,
	} {
		if got := cfg.reachable(netip.MustParseAddr(addr)); got != want {
			t.Errorf("%s: reachable %v, want %v", addr, got, want)
		}
	}
}

// TestSignWebhook checks the signature against the example of the
// Standard Webhooks specification.
func TestSignWebhook(t *testing.T) {
	got := SignWebhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
		[]byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestEventIDs(t *testing.T) {
	for _, seq := range []int64{0, 1, 31, 32, 1 << 40, 1 << 62} {
		id := EventID(seq)
		if back, ok := eventSeq(id); !ok || back != seq {
			t.Errorf("%d → %s → %d %v", seq, id, back, ok)
		}
	}
	if EventID(9) >= EventID(10) || EventID(31) >= EventID(32) {
		t.Error("event ids do not sort as their sequence")
	}
	for _, bad := range []ID{"evt_", "evt_ZZZZZZZZZZZZZ", "file_0000000000001", "evt_000000000000u", "evt_00000000000001"} {
		if _, ok := eventSeq(bad); ok {
			t.Errorf("%s accepted", bad)
		}
	}
}
