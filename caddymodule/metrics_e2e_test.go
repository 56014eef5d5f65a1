package caddymodule_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/internal/testcaddy"
)

func metricsConfig(up *testcaddy.Upstream, ttl string) string {
	return fmt.Sprintf(`{
	admin @ADMIN@
}
:@HTTP@ {
	handle /m {
		callback_guard avarda {
			header_secret X-Secret s3cret
			deadline 300ms
			max_body 1KiB
			dedupe_ttl %s
		}
		reverse_proxy %s
	}
}
`, ttl, up.Addr())
}

// scrape reads the callback_guard series of the admin endpoint's /metrics.
func scrape(t *testing.T, c *testcaddy.Instance) map[string]float64 {
	t.Helper()
	resp, err := http.Get(c.AdminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	series := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "callback_guard_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		series[line[:i]] = v
	}
	return series
}

// playMix sends a scripted mix of deliveries with ids made unique by round.
func playMix(t *testing.T, c *testcaddy.Instance, round string) {
	t.Helper()
	post := func(id, secret string, body string) answer {
		if body == "" {
			body = `{"purchaseId":"` + round + id + `"}`
		}
		send := func() (*http.Response, error) {
			req := newRequest(t, "POST", c.URL+"/m", "application/json", body)
			if secret != "" {
				req.Header.Set("X-Secret", secret)
			}
			return http.DefaultClient.Do(req)
		}
		resp, err := send()
		if err != nil {
			// No answer at all, as when a connection is dropped under
			// load or across the reload (Go does not retry a POST).
			// Sending it again hides nothing: had the guard seen the
			// first, the counts checked after the mix would be off.
			t.Logf("delivery %s%s: %v; sending it again", round, id, err)
			if resp, err = send(); err != nil {
				t.Fatalf("delivery %s%s: %v", round, id, err)
			}
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
	}
	for _, id := range []string{"a", "b", "c"} { // 3 forwarded
		if a := post(id, "s3cret", ""); a.status != 200 {
			t.Fatalf("forward %s: %d", id, a.status)
		}
	}
	for _, id := range []string{"a", "b"} { // 2 replayed
		if a := post(id, "s3cret", ""); a.header.Get("X-Callback-Replayed") != "true" {
			t.Fatalf("replay %s: %d", id, a.status)
		}
	}
	if a := post("x", "", ""); a.status != 401 { // rejected: missing_credentials
		t.Fatal(a.status)
	}
	if a := post("x", "guess", ""); a.status != 401 { // rejected: invalid_credentials
		t.Fatal(a.status)
	}
	if a := post("slow", "s3cret", ""); a.status != 504 { // timeout
		t.Fatalf("slow: %d", a.status)
	}
	if a := post("big", "s3cret", `{"purchaseId":"`+strings.Repeat("x", 2000)+`"}`); a.status != 413 { // too_large
		t.Fatal(a.status)
	}
	if a := post("fail", "s3cret", ""); a.status != 500 { // upstream_error
		t.Fatalf("fail: %d", a.status)
	}
	time.Sleep(500 * time.Millisecond) // the slow forward finishes
}

func TestMetricsCountTheMixAcrossReloads(t *testing.T) {
	up := testcaddy.NewUpstream(t)
	up.Respond = func(w http.ResponseWriter, r *http.Request, body []byte) {
		switch {
		case strings.Contains(string(body), "slow"):
			time.Sleep(400 * time.Millisecond)
		case strings.Contains(string(body), "fail"):
			w.WriteHeader(500)
			return
		}
		fmt.Fprint(w, "ok")
	}
	c := testcaddy.Start(t, metricsConfig(up, "1h"))
	check := func(times float64) {
		t.Helper()
		m := scrape(t, c)
		want := map[string]float64{
			`callback_guard_requests_total{provider="avarda",result="forwarded"}`:                  3,
			`callback_guard_requests_total{provider="avarda",result="replayed"}`:                   2,
			`callback_guard_requests_total{provider="avarda",result="rejected"}`:                   2,
			`callback_guard_requests_total{provider="avarda",result="timeout"}`:                    1,
			`callback_guard_requests_total{provider="avarda",result="too_large"}`:                  1,
			`callback_guard_requests_total{provider="avarda",result="upstream_error"}`:             1,
			`callback_guard_requests_total{provider="avarda",result="store_error"}`:                0,
			`callback_guard_verify_failures_total{provider="avarda",reason="missing_credentials"}`: 1,
			`callback_guard_verify_failures_total{provider="avarda",reason="invalid_credentials"}`: 1,
			`callback_guard_verify_failures_total{provider="avarda",reason="token_expired"}`:       0,
			`callback_guard_request_duration_seconds_count{provider="avarda"}`:                     10,
			`callback_guard_upstream_duration_seconds_count{provider="avarda"}`:                    5,
			`callback_guard_store_errors_total{store="memory"}`:                                    0,
		}
		for series, n := range want {
			if got, ok := m[series]; !ok || got != n*times {
				t.Errorf("%s = %v (present %v), want %v", series, got, ok, n*times)
			}
		}
		for series := range m {
			if strings.Contains(series, "purchaseId") || strings.Contains(series, "/m") {
				t.Errorf("a label carries request data: %s", series)
			}
		}
	}
	playMix(t, c, "r1-")
	check(1)
	c.Load(t, metricsConfig(up, "2h"))
	playMix(t, c, "r2-")
	check(2)
}
