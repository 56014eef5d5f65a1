package caddymodule_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/internal/testcaddy"
)

// dedupeConfig guards /cb (deadline 600ms) and /fast in front of up.
func dedupeConfig(up *testcaddy.Upstream, extra string) string {
	return fmt.Sprintf(`{
	admin @ADMIN@
	servers {
		protocols h1 h2c
	}
}
:@HTTP@ {
	handle /cb {
		callback_guard generic {
			header_secret X-Secret s3cret
			dedupe {json.id}
			deadline 600ms
			upstream_timeout 3s
			%[2]s
		}
		reverse_proxy %[1]s
	}
	handle /timeout-answer {
		callback_guard generic {
			header_secret X-Secret s3cret
			dedupe {json.id}
			deadline 300ms
			on_timeout 202 "{\"status\":\"accepted\"}"
		}
		reverse_proxy %[1]s
	}
}
`, up.Addr(), extra)
}

// delivery posts {"id": id} to path with the secret.
func delivery(t testing.TB, base, path, id string) *http.Request {
	req := newRequest(t, "POST", base+path, "application/json", `{"id":"`+id+`"}`)
	req.Header.Set("X-Secret", "s3cret")
	return req
}

// idOf reads the id of a recorded request.
func idOf(body []byte) string {
	var v struct{ ID string }
	_ = json.Unmarshal(body, &v)
	return v.ID
}

func TestDedupeConcurrentDuplicatesForwardOnce(t *testing.T) {
	up := testcaddy.NewUpstream(t)
	up.Respond = func(w http.ResponseWriter, r *http.Request, body []byte) {
		time.Sleep(300 * time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Order", "order-"+idOf(body))
		fmt.Fprintf(w, `{"ack":"%s"}`, idOf(body))
	}
	c := testcaddy.Start(t, dedupeConfig(up, ""))
	const n = 100
	answers := make([]answer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = tryDo(delivery(t, c.URL, "/cb", "evt-1"))
		}()
	}
	wg.Wait()
	if got := up.Count(); got != 1 {
		t.Fatalf("backend saw %d requests, want exactly 1", got)
	}
	replayed := 0
	for i, a := range answers {
		if a.status != 200 || a.body != `{"ack":"evt-1"}` || a.header.Get("X-Order") != "order-evt-1" || a.header.Get("Content-Type") != "application/json" {
			t.Fatalf("answer %d differs: %d %q %v", i, a.status, a.body, a.header)
		}
		if a.header.Get("X-Callback-Replayed") == "true" {
			replayed++
		}
	}
	if replayed != n-1 {
		t.Errorf("%d answers marked replayed, want %d", replayed, n-1)
	}
}

func TestDedupeDistinctKeysDoNotBlockEachOther(t *testing.T) {
	up := testcaddy.NewUpstream(t)
	up.Respond = func(w http.ResponseWriter, r *http.Request, body []byte) {
		time.Sleep(400 * time.Millisecond)
		fmt.Fprint(w, "ok "+idOf(body))
	}
	c := testcaddy.Start(t, dedupeConfig(up, ""))
	do(t, delivery(t, c.URL, "/cb", "warm-up"))
	const n = 30
	start := time.Now()
	var wg sync.WaitGroup
	var bad atomic.Int32
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("distinct-%d", i)
			if a := tryDo(delivery(t, c.URL, "/cb", id)); a.status != 200 || a.body != "ok "+id {
				bad.Add(1)
			}
		}()
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d deliveries failed", bad.Load())
	}
	if elapsed := time.Since(start); elapsed > 590*time.Millisecond {
		t.Fatalf("%d distinct keys against a 400ms backend took %s: keys blocked each other", n, elapsed)
	}
	if up.Count() != n+1 {
		t.Fatalf("backend saw %d, want %d", up.Count(), n+1)
	}
}

// A hung backend: every delivery gets the on_timeout answer within
// deadline + 100ms, over HTTP/1.1 and over HTTP/2.
func TestDeadlineHungBackend(t *testing.T) {
	up := testcaddy.NewUpstream(t)
	release := make(chan struct{})
	up.Respond = func(w http.ResponseWriter, r *http.Request, body []byte) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}
	defer close(release)
	// Timing is measured against a server built without the race detector.
	c := testcaddy.Start(t, dedupeConfig(up, ""), testcaddy.Options{NoRace: true})
	const deadlineDur = 600 * time.Millisecond
	h2c := &http.Client{Transport: &http.Transport{
		Protocols: func() *http.Protocols { p := new(http.Protocols); p.SetUnencryptedHTTP2(true); return p }(),
	}}
	for _, tc := range []struct {
		name   string
		client *http.Client
		proto  int
	}{
		{"HTTP/1.1", &http.Client{Transport: &http.Transport{MaxConnsPerHost: 0}}, 1},
		{"HTTP/2", h2c, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 200
			var wg sync.WaitGroup
			errs := make(chan string, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					id := fmt.Sprintf("%s-hung-%d", tc.name, i%50) // 50 keys, 4 deliveries each
					req := delivery(t, c.URL, "/cb", id)
					// The deadline runs from the request's arrival: time it
					// from when the request was written, not from before
					// the client queued 200 connections on a busy machine.
					var wrote atomic.Int64 // the trace may run on the transport's goroutine
					wrote.Store(time.Now().UnixNano())
					req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
						WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(time.Now().UnixNano()) },
					}))
					resp, err := tc.client.Do(req)
					if err != nil {
						errs <- err.Error()
						return
					}
					body := make([]byte, 64)
					nr, _ := resp.Body.Read(body)
					resp.Body.Close()
					took := time.Since(time.Unix(0, wrote.Load()))
					if resp.StatusCode != 504 || resp.ProtoMajor != tc.proto {
						errs <- fmt.Sprintf("status %d proto %d body %q", resp.StatusCode, resp.ProtoMajor, body[:nr])
					} else if took > deadlineDur+100*time.Millisecond || took < deadlineDur-50*time.Millisecond {
						errs <- fmt.Sprintf("on_timeout answer after %s, want %s + 100ms at most", took, deadlineDur)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for e := range errs {
				t.Error(e)
			}
		})
	}
}

// 500 then 200: the failed forward stores nothing, the retry is forwarded
// as attempt 2, and a third delivery is replayed from the store.
func TestDedupeFailedForwardIsRetried(t *testing.T) {
	up := testcaddy.NewUpstream(t)
	var calls atomic.Int32
	up.Respond = func(w http.ResponseWriter, r *http.Request, body []byte) {
		if calls.Add(1) == 1 {
			http.Error(w, "database down", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, "order updated")
	}
	c := testcaddy.Start(t, dedupeConfig(up, ""))
	first := do(t, delivery(t, c.URL, "/cb", "retry-1"))
	if first.status != 500 || !strings.Contains(first.body, "database down") {
		t.Fatalf("first delivery: %d %q; the provider must see the backend's failure", first.status, first.body)
	}
	second := do(t, delivery(t, c.URL, "/cb", "retry-1"))
	if second.status != 200 || second.body != "order updated" || second.header.Get("X-Callback-Replayed") != "" {
		t.Fatalf("retry: %d %q replayed=%q", second.status, second.body, second.header.Get("X-Callback-Replayed"))
	}
	third := do(t, delivery(t, c.URL, "/cb", "retry-1"))
	if third.status != 200 || third.body != "order updated" || third.header.Get("X-Callback-Replayed") != "true" {
		t.Fatalf("third delivery: %d %q replayed=%q", third.status, third.body, third.header.Get("X-Callback-Replayed"))
	}
	got := up.Received()
	if len(got) != 2 {
		t.Fatalf("backend saw %d requests, want 2", len(got))
	}
	for i, want := range []string{"1", "2"} {
		if a := got[i].Header.Get("X-Callback-Attempt"); a != want {
			t.Errorf("forward %d: X-Callback-Attempt %q, want %q", i+1, a, want)
		}
	}
	// 408 and 429 are failed forwards too.
	for _, status := range []int{408, 429, 503} {
		up.Reset()
		calls.Store(0)
		up.Respond = func(w http.ResponseWriter, r *http.Request, body []byte) {
			if calls.Add(1) == 1 {
				w.WriteHeader(status)
				return
			}
			fmt.Fprint(w, "fine")
		}
		id := fmt.Sprintf("status-%d", status)
		if a := do(t, delivery(t, c.URL, "/cb", id)); a.status != status {
			t.Fatalf("%d: first answer %d", status, a.status)
		}
		if a := tryDo(delivery(t, c.URL, "/cb", id)); a.status != 200 || up.Count() != 2 {
			t.Fatalf("%d: retry answered %d after %d forwards", status, a.status, up.Count())
		}
	}
}

// A connection error is a failed forward: nothing stored, the retry goes
// through once the backend is back.
func TestDedupeConnectionErrorIsRetried(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens: connection refused
	up := testcaddy.NewUpstream(t)
	cfg := strings.Replace(dedupeConfig(up, ""), up.Addr(), addr, 1)
	c := testcaddy.Start(t, cfg)
	if a := do(t, delivery(t, c.URL, "/cb", "conn-1")); a.status != 502 {
		t.Fatalf("refused backend: %d %q", a.status, a.body)
	}
	c.Load(t, dedupeConfig(up, ""))
	a := do(t, delivery(t, c.URL, "/cb", "conn-1"))
	if a.status != 200 || up.Count() != 1 {
		t.Fatalf("retry after the backend came back: %d, %d forwards", a.status, up.Count())
	}
	if got := up.Received()[0].Header.Get("X-Callback-Attempt"); got != "2" {
		t.Errorf("X-Callback-Attempt %q, want 2", got)
	}
}

// The late answer: the provider gets on_timeout at the deadline, the
// backend answers later, and the retry is replayed with the real answer.
func TestDedupeLateAnswerIsKept(t *testing.T) {
	up := testcaddy.NewUpstream(t)
	up.Respond = func(w http.ResponseWriter, r *http.Request, body []byte) {
		time.Sleep(900 * time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"late":"but real"}`)
	}
	c := testcaddy.Start(t, dedupeConfig(up, ""))
	sent := time.Now()
	first := do(t, delivery(t, c.URL, "/timeout-answer", "late-1"))
	if took := time.Since(sent); first.status != 202 || first.body != `{"status":"accepted"}` || took > 450*time.Millisecond {
		t.Fatalf("on_timeout answer %d %q after %s", first.status, first.body, took)
	}
	if ct := first.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("on_timeout Content-Type %q", ct)
	}
	time.Sleep(900 * time.Millisecond) // the backend answers meanwhile
	retry := do(t, delivery(t, c.URL, "/timeout-answer", "late-1"))
	if retry.status != 200 || retry.body != `{"late":"but real"}` || retry.header.Get("X-Callback-Replayed") != "true" {
		t.Fatalf("retry: %d %q %v", retry.status, retry.body, retry.header)
	}
	if up.Count() != 1 {
		t.Fatalf("backend saw %d requests, want 1", up.Count())
	}
}

// A duplicate that waits on a slow first delivery gets on_timeout at its
// own deadline; once the first answers, the next retry is replayed.
func TestDedupeWaiterGetsOnTimeoutAtItsDeadline(t *testing.T) {
	up := testcaddy.NewUpstream(t)
	up.Respond = func(w http.ResponseWriter, r *http.Request, body []byte) {
		time.Sleep(1200 * time.Millisecond)
		fmt.Fprint(w, "done")
	}
	c := testcaddy.Start(t, dedupeConfig(up, ""))
	go tryDo(delivery(t, c.URL, "/cb", "wait-1"))
	time.Sleep(400 * time.Millisecond)
	sent := time.Now()
	a := do(t, delivery(t, c.URL, "/cb", "wait-1"))
	if took := time.Since(sent); a.status != 504 || took < 550*time.Millisecond || took > 750*time.Millisecond {
		t.Fatalf("waiting duplicate: %d after %s, want 504 at its own 600ms deadline", a.status, took)
	}
	time.Sleep(500 * time.Millisecond)
	if a := do(t, delivery(t, c.URL, "/cb", "wait-1")); a.status != 200 || a.body != "done" || a.header.Get("X-Callback-Replayed") != "true" {
		t.Fatalf("after the answer: %d %q", a.status, a.body)
	}
	if up.Count() != 1 {
		t.Fatalf("backend saw %d", up.Count())
	}
}

// An unverified request that carries a valid delivery's key never touches
// the store: it neither blocks nor poisons that delivery.
func TestDedupeUnverifiedRequestCannotPoison(t *testing.T) {
	up := testcaddy.NewUpstream(t)
	up.Respond = func(w http.ResponseWriter, r *http.Request, body []byte) {
		time.Sleep(200 * time.Millisecond)
		fmt.Fprint(w, "real answer")
	}
	c := testcaddy.Start(t, dedupeConfig(up, ""))
	forged := delivery(t, c.URL, "/cb", "poison-1")
	forged.Header.Set("X-Secret", "guess")
	if a := do(t, forged); a.status != 401 {
		t.Fatalf("forged: %d", a.status)
	}
	done := make(chan answer)
	go func() { done <- tryDo(delivery(t, c.URL, "/cb", "poison-1")) }()
	time.Sleep(50 * time.Millisecond)
	forged = delivery(t, c.URL, "/cb", "poison-1")
	forged.Header.Del("X-Secret")
	sent := time.Now()
	if a := do(t, forged); a.status != 401 || time.Since(sent) > 100*time.Millisecond {
		t.Fatalf("forged during the real delivery: %d after %s (must not wait on the key)", a.status, time.Since(sent))
	}
	a := <-done
	if a.status != 200 || a.body != "real answer" || a.header.Get("X-Callback-Replayed") != "" {
		t.Fatalf("real delivery: %d %q replayed=%q", a.status, a.body, a.header.Get("X-Callback-Replayed"))
	}
	if up.Count() != 1 || up.Received()[0].Header.Get("X-Callback-Attempt") != "1" {
		t.Fatalf("backend saw %d requests", up.Count())
	}
}

// GET is never deduplicated.
func TestDedupeOnlyForWritingMethods(t *testing.T) {
	up := testcaddy.NewUpstream(t)
	c := testcaddy.Start(t, dedupeConfig(up, ""))
	for range 2 {
		req := newRequest(t, "GET", c.URL+"/cb", "", "")
		req.Header.Set("X-Secret", "s3cret")
		if a := do(t, req); a.status != 200 || a.header.Get("X-Callback-Replayed") != "" {
			t.Fatalf("GET: %d %v", a.status, a.header)
		}
	}
	for _, m := range []string{"PUT", "PATCH"} {
		req := delivery(t, c.URL, "/cb", "method-1")
		req.Method = m
		do(t, req)
	}
	if up.Count() != 3 {
		t.Fatalf("backend saw %d requests, want 3 (two GETs, one PUT; the PATCH is a duplicate)", up.Count())
	}
}

// A config reload through the admin API keeps the stored keys.
func TestDedupeKeysSurviveReload(t *testing.T) {
	up := testcaddy.NewUpstream(t)
	c := testcaddy.Start(t, dedupeConfig(up, ""))
	if a := do(t, delivery(t, c.URL, "/cb", "reload-1")); a.status != 200 {
		t.Fatal(a.status)
	}
	c.Load(t, dedupeConfig(up, "dedupe_ttl 1h"))
	a := do(t, delivery(t, c.URL, "/cb", "reload-1"))
	if a.status != 200 || a.header.Get("X-Callback-Replayed") != "true" || up.Count() != 1 {
		t.Fatalf("after reload: %d replayed=%q, %d forwards", a.status, a.header.Get("X-Callback-Replayed"), up.Count())
	}
}

// A config reload while a forward runs past the deadline: Caddy stays up,
// the late answer is still kept, and the retry is replayed from it.
func TestReloadDuringALateForward(t *testing.T) {
	up := testcaddy.NewUpstream(t)
	up.Respond = func(w http.ResponseWriter, r *http.Request, body []byte) {
		time.Sleep(1200 * time.Millisecond)
		fmt.Fprint(w, "late "+idOf(body))
	}
	c := testcaddy.Start(t, dedupeConfig(up, ""))
	h2c := &http.Client{Transport: &http.Transport{
		Protocols: func() *http.Protocols { p := new(http.Protocols); p.SetUnencryptedHTTP2(true); return p }(),
	}}
	for _, tc := range []struct {
		name   string
		client *http.Client
	}{{"HTTP/1.1", http.DefaultClient}, {"HTTP/2", h2c}} {
		t.Run(tc.name, func(t *testing.T) {
			up.Reset()
			id := "reload-" + tc.name
			done := make(chan int, 1)
			go func() {
				resp, err := tc.client.Do(delivery(t, c.URL, "/cb", id))
				if err != nil {
					done <- -1
					return
				}
				resp.Body.Close()
				done <- resp.StatusCode
			}()
			time.Sleep(800 * time.Millisecond) // past the 600ms deadline
			c.Load(t, dedupeConfig(up, "dedupe_ttl 2h"))
			if status := <-done; status != 504 {
				t.Fatalf("first delivery: %d, want the on_timeout 504", status)
			}
			time.Sleep(900 * time.Millisecond) // the backend answers
			a := do(t, delivery(t, c.URL, "/cb", id))
			if a.status != 200 || a.body != "late "+id || a.header.Get("X-Callback-Replayed") != "true" {
				t.Fatalf("retry after the reload: %d %q %v", a.status, a.body, a.header)
			}
			if up.Count() != 1 {
				t.Fatalf("backend saw %d requests, want 1", up.Count())
			}
		})
	}
	if strings.Contains(c.Log(), "panic") {
		t.Fatalf("caddy panicked:\n%s", c.Log())
	}
}

// Request trailers never reach the backend: they could carry forged
// X-Callback-* fields, and would make the proxy send the body chunked.
func TestTrailersAreDropped(t *testing.T) {
	up := testcaddy.NewUpstream(t)
	c := testcaddy.Start(t, dedupeConfig(up, ""))
	body := `{"id":"trailer-1"}`
	req := newRequest(t, "POST", c.URL+"/cb", "application/json", "")
	req.Body = readerOnly{strings.NewReader(body)}
	req.ContentLength = -1
	req.Header.Set("X-Secret", "s3cret")
	req.Trailer = http.Header{"X-Callback-Id": {"forged"}, "X-Callback-Provider": {"forged"}}
	if a := do(t, req); a.status != 200 {
		t.Fatalf("%d %q", a.status, a.body)
	}
	got := up.Received()
	if len(got) != 1 {
		t.Fatalf("backend saw %d", len(got))
	}
	if got[0].ContentLength != int64(len(body)) || string(got[0].Body) != body {
		t.Errorf("body %q with length %d", got[0].Body, got[0].ContentLength)
	}
	for k, vs := range got[0].Header {
		for _, v := range vs {
			if v == "forged" {
				t.Errorf("the backend got the forged trailer %s", k)
			}
		}
	}
}
