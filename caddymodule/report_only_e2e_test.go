package caddymodule_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/internal/testcaddy"
)

// TestReportOnly: under report_only a failure is forwarded, marked, with
// no header derived from the unverified request, counted as reported
// with its reason, and never deduplicated; a good delivery is forwarded
// as usual. Any preset's failures are reported (avarda's static header
// too).
func TestReportOnly(t *testing.T) {
	up := testcaddy.NewUpstream(t)
	stripe := signedProviders()[0]
	c := testcaddy.Start(t, fmt.Sprintf(`{
	admin @ADMIN@
}
:@HTTP@ {
	handle /stripe {
		callback_guard stripe {
			hmac %q
			report_only
		}
		reverse_proxy %[2]s
	}
	handle /avarda {
		callback_guard avarda {
			header_secret Authorization "Bearer avarda-token"
			report_only
		}
		reverse_proxy %[2]s
	}
}
`, stripe.secrets[0], up.Addr()))

	forged := http.Header{"X-Callback-Id": {"forged"}, "X-Callback-Verified": {"hmac"}, "X_callback_event": {"x"}}
	for i := 0; i < 2; i++ {
		body, h := stripe.deliver(t, "whsec_wrong", "same-id", time.Now())
		for k, v := range forged {
			h[k] = v
		}
		a := post(t, c.URL+"/stripe", body, h)
		if a.status != 200 || a.header.Get("X-Callback-Replayed") != "" {
			t.Fatalf("reported delivery %d: %d %q replayed=%q", i+1, a.status, a.body, a.header.Get("X-Callback-Replayed"))
		}
	}
	got := up.Received()
	if len(got) != 2 {
		t.Fatalf("upstream received %d, want both failures (never deduplicated)", len(got))
	}
	for _, r := range got {
		assertHeader(t, r.Header, "X-Callback-Provider", "stripe")
		assertHeader(t, r.Header, "X-Callback-Verified", "none")
		assertHeader(t, r.Header, "X-Callback-Rejected", "invalid_signature")
		assertNoHeader(t, r.Header, "X-Callback-Id", "X-Callback-Attempt", "X-Callback-Event", "X-Callback-Outcome", "X-Callback-Claims", "X_callback_event")
		if r.Header.Get("X-Callback-Deadline") == "" {
			t.Error("no X-Callback-Deadline")
		}
	}
	up.Reset()

	req := newRequest(t, "POST", c.URL+"/avarda", "application/json", `{"purchaseId":"p1"}`)
	req.Header.Set("Authorization", "Bearer guess")
	if a := do(t, req); a.status != 200 {
		t.Fatalf("avarda reported: %d", a.status)
	}
	if r := up.Received(); len(r) != 1 || r[0].Header.Get("X-Callback-Rejected") != "invalid_credentials" || r[0].Header.Get("Authorization") != "" {
		t.Fatalf("avarda: %v", r)
	}
	up.Reset()

	body, h := stripe.deliver(t, stripe.secrets[0], "good-id", time.Now())
	if a := post(t, c.URL+"/stripe", body, h); a.status != 200 {
		t.Fatalf("good delivery: %d", a.status)
	}
	if r := up.Received(); len(r) != 1 || r[0].Header.Get("X-Callback-Verified") != "hmac" || r[0].Header.Get("X-Callback-Rejected") != "" ||
		r[0].Header.Get("X-Callback-Id") != "evt_good-id" {
		t.Fatalf("a good delivery under report_only: %v", r)
	}

	m := scrape(t, c)
	for series, want := range map[string]float64{
		`callback_guard_requests_total{provider="stripe",result="reported"}`:                          2,
		`callback_guard_requests_total{provider="stripe",result="forwarded"}`:                         1,
		`callback_guard_requests_total{provider="stripe",result="rejected"}`:                          0,
		`callback_guard_verify_failures_total{provider="stripe",reason="invalid_signature"}`:          2,
		`callback_guard_verify_failures_total{provider="avarda",reason="invalid_credentials"}`:        1,
		`callback_guard_requests_total{provider="avarda",result="reported"}`:                          1,
		`callback_guard_verify_failures_total{provider="stripe",reason="timestamp_out_of_tolerance"}`: 0,
	} {
		if got, ok := m[series]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}
}
