package caddymodule_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/internal/redistest"
	"github.com/callbackguard/callbackguard/internal/testcaddy"
)

// redisConfig is one Caddy instance of several sharing a Redis: /cb
// forwards with deduplication in Redis, store_failure as given.
func redisConfig(up *testcaddy.Upstream, redisURL, failure string) string {
	return fmt.Sprintf(`{
	admin @ADMIN@
	callback_guard {
		store redis %s
	}
}
:@HTTP@ {
	handle /cb {
		callback_guard generic {
			header_secret X-Secret s3cret
			dedupe {json.id}
			deadline 800ms
			upstream_timeout 1s
			store_failure %s
		}
		reverse_proxy %s
	}
}
`, redisURL, failure, up.Addr())
}

func TestRedisTwoInstancesForwardOnce(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Password: "redis-pw"})
	up := testcaddy.NewUpstream(t)
	up.Respond = func(w http.ResponseWriter, r *http.Request, body []byte) {
		time.Sleep(200 * time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"ack":%q,"attempt":%q}`, idOf(body), r.Header.Get("X-Callback-Attempt"))
	}
	cfg := redisConfig(up, srv.URL(0), "open")
	a, b := testcaddy.Start(t, cfg), testcaddy.Start(t, cfg)

	t.Run("A then B", func(t *testing.T) {
		first := do(t, delivery(t, a.URL, "/cb", "ab-1"))
		second := do(t, delivery(t, b.URL, "/cb", "ab-1"))
		if first.status != 200 || second.status != 200 || second.body != first.body || second.header.Get("X-Callback-Replayed") != "true" {
			t.Fatalf("A: %d %q; B: %d %q %v", first.status, first.body, second.status, second.body, second.header)
		}
		if up.Count() != 1 {
			t.Fatalf("backend saw %d requests, want 1", up.Count())
		}
	})

	t.Run("50 concurrent duplicates split across A and B", func(t *testing.T) {
		up.Reset()
		const n = 50
		answers := make([]answer, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				inst := a
				if i%2 == 1 {
					inst = b
				}
				answers[i] = tryDo(delivery(t, inst.URL, "/cb", "split-1"))
			}()
		}
		wg.Wait()
		if up.Count() != 1 {
			t.Fatalf("backend saw %d requests, want exactly 1", up.Count())
		}
		for i, ans := range answers {
			if ans.status != 200 || ans.body != answers[0].body {
				t.Fatalf("answer %d: %d %q, want %q", i, ans.status, ans.body, answers[0].body)
			}
		}
	})
}

func TestRedisDownAndBack(t *testing.T) {
	for _, failure := range []string{"open", "reject"} {
		t.Run(failure, func(t *testing.T) {
			srv := redistest.Start(t)
			up := testcaddy.NewUpstream(t)
			c := testcaddy.Start(t, redisConfig(up, srv.URL(0), failure))
			if a := do(t, delivery(t, c.URL, "/cb", "down-1")); a.status != 200 {
				t.Fatalf("with Redis up: %d", a.status)
			}
			srv.Stop()
			sent := time.Now()
			a := do(t, delivery(t, c.URL, "/cb", "down-2"))
			if took := time.Since(sent); took > 800*time.Millisecond {
				t.Errorf("a dead Redis held the answer %s, past the deadline", took)
			}
			switch failure {
			case "open":
				if a.status != 200 || up.Count() != 2 {
					t.Fatalf("open with Redis down: %d after %d forwards; nothing may be lost", a.status, up.Count())
				}
			case "reject":
				if a.status != 503 || errorReason(t, a) != "store_unavailable" || up.Count() != 1 {
					t.Fatalf("reject with Redis down: %d %q, %d forwards", a.status, a.body, up.Count())
				}
			}
			srv.Restart(t)
			var ok bool
			for range 50 { // the client reconnects on its own
				if a := do(t, delivery(t, c.URL, "/cb", "back-1")); a.status == 200 {
					ok = true
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if !ok {
				t.Fatal("no delivery went through after Redis came back")
			}
			before := up.Count()
			if a := do(t, delivery(t, c.URL, "/cb", "back-1")); a.header.Get("X-Callback-Replayed") != "true" || up.Count() != before {
				t.Fatalf("deduplication did not resume: %d %v", a.status, a.header)
			}
			m := scrape(t, c)
			if m[`callback_guard_store_errors_total{store="redis"}`] < 1 {
				t.Errorf("store errors not counted: %v", m)
			}
			if failure == "reject" && m[`callback_guard_requests_total{provider="generic",result="store_error"}`] < 1 {
				t.Errorf("store_error result not counted")
			}
		})
	}
}

// An instance that dies holding a claim blocks the key no longer than the
// claim's time to live (upstream_timeout plus a margin).
func TestRedisClaimOfADeadInstanceExpires(t *testing.T) {
	srv := redistest.Start(t)
	up := testcaddy.NewUpstream(t)
	hang := make(chan struct{})
	defer close(hang)
	var mu sync.Mutex
	hung := true
	up.Respond = func(w http.ResponseWriter, r *http.Request, body []byte) {
		mu.Lock()
		h := hung
		mu.Unlock()
		if h {
			select {
			case <-hang:
			case <-r.Context().Done():
			}
			return
		}
		fmt.Fprint(w, "processed")
	}
	cfg := redisConfig(up, srv.URL(0), "open")
	a, b := testcaddy.Start(t, cfg), testcaddy.Start(t, cfg)
	go tryDo(delivery(t, a.URL, "/cb", "dead-1"))
	time.Sleep(300 * time.Millisecond)
	a.Kill() // dies holding the claim
	mu.Lock()
	hung = false
	mu.Unlock()
	if r := do(t, delivery(t, b.URL, "/cb", "dead-1")); r.status != 504 {
		t.Fatalf("while the dead claim holds: %d, want the on_timeout answer", r.status)
	}
	time.Sleep(3 * time.Second) // upstream_timeout 1s + 2s margin
	r := do(t, delivery(t, b.URL, "/cb", "dead-1"))
	if r.status != 200 || r.body != "processed" {
		t.Fatalf("after the claim expired: %d %q", r.status, r.body)
	}
	last := up.Received()[up.Count()-1]
	if got := last.Header.Get("X-Callback-Attempt"); got != "2" {
		t.Errorf("X-Callback-Attempt %q after a dead claim, want 2", got)
	}
}
