package caddymodule_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
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

// A bad Redis URL fails `caddy validate` and a config load even where no
// guard deduplicates (generic without a dedupe line): it would otherwise
// surface only when a later edit adds one. The error never shows the
// password.
func TestRedisBadURLFailsTheLoad(t *testing.T) {
	dir := t.TempDir()
	guard := "callback_guard generic {\n header_secret X-Secret s3cret\n store redis %s\n}"
	global := "{\n admin off\n callback_guard {\n  store redis %s\n }\n}\n:0 {\ncallback_guard generic {\n header_secret X-Secret s3cret\n}\nreverse_proxy 127.0.0.1:9\n}\n"
	site := "{\n admin off\n}\n:0 {\n" + guard + "\nreverse_proxy 127.0.0.1:9\n}\n"
	tests := []struct {
		name, config string
		ok           bool
	}{
		{"bad database", fmt.Sprintf(site, "redis://:hunter2@127.0.0.1:6379/x"), false},
		{"unknown option", fmt.Sprintf(site, "redis://:hunter2@127.0.0.1:6379/0?pool=9"), false},
		{"sentinel without a master", fmt.Sprintf(site, "redis+sentinel://:hunter2@127.0.0.1:26379"), false},
		{"bad URL in the global option", fmt.Sprintf(global, "rediss://:hunter2@127.0.0.1:6379/0/1"), false},
		// A good URL passes without a Redis to talk to: the load checks
		// the URL, it does not connect.
		{"good URL, no Redis listening", fmt.Sprintf(site, "redis://:hunter2@127.0.0.1:9/0"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := filepath.Join(dir, "Caddyfile")
			if err := os.WriteFile(cfg, []byte(tt.config), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := testcaddy.Run(t, dir, "validate", "--config", cfg, "--adapter", "caddyfile")
			switch {
			case tt.ok && err != nil:
				t.Fatalf("caddy validate refused it: %v\n%s", err, out)
			case !tt.ok && err == nil:
				t.Fatalf("caddy validate accepted it:\n%s", out)
			case !tt.ok && !strings.Contains(out, "store: redisstore: invalid redis URL"):
				t.Fatalf("caddy validate said:\n%s", out)
			}
			for _, line := range strings.Split(out, "\n") {
				if strings.Contains(line, "invalid redis URL") && strings.Contains(line, "hunter2") {
					t.Fatalf("the error shows the password: %s", line)
				}
			}
		})
	}

	// A running Caddy refuses the bad config and keeps the old one.
	up := testcaddy.NewUpstream(t)
	good := "{\n admin @ADMIN@\n}\n:@HTTP@ {\ncallback_guard generic {\n header_secret X-Secret s3cret\n}\nreverse_proxy " + up.Addr() + "\n}\n"
	c := testcaddy.Start(t, good)
	bad := strings.Replace(good, "header_secret X-Secret s3cret", "header_secret X-Secret s3cret\n store redis redis://127.0.0.1:6379/x", 1)
	if err := c.TryLoad(bad); err == nil || !strings.Contains(err.Error(), "invalid redis URL") {
		t.Fatalf("loading a bad Redis URL: %v", err)
	}
	if a := do(t, delivery(t, c.URL, "/", "after-bad-load")); a.status != 200 {
		t.Fatalf("after the refused load: %d %q", a.status, a.body)
	}
}

// TestRedisSentinelFailover: a guard on a Sentinel setup (a master, a
// replica, three sentinels) keeps working through a failover, without a
// restart: the master is killed mid-run, deliveries go on (forwarded, with
// store_failure open, while no master answers), and once a sentinel has
// promoted the replica, an answer stored well before the failover (the
// replica had it) is still replayed and new deliveries are deduplicated
// again.
func TestRedisSentinelFailover(t *testing.T) {
	st := redistest.StartSentinels(t, 1, 3, redistest.Options{Password: "redis-pw"})
	up := testcaddy.NewUpstream(t)
	up.Respond = func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"ack":%q}`, idOf(body))
	}
	c := testcaddy.Start(t, redisConfig(up, st.URL(0), "open"))

	before := do(t, delivery(t, c.URL, "/cb", "before-failover"))
	if before.status != 200 || up.Count() != 1 {
		t.Fatalf("before the failover: %d, %d forwards", before.status, up.Count())
	}
	// The replica has the answer before the master dies.
	if n, err := st.Servers[0].String("WAIT", "1", "5000"); err != nil || n != "1" {
		t.Fatalf("WAIT: %q %v", n, err)
	}

	// Deliveries keep coming while the master dies and the sentinels
	// promote the replica.
	stop := make(chan struct{})
	var failed, sent int
	var mu sync.Mutex
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			a := tryDo(delivery(t, c.URL, "/cb", fmt.Sprint("during-", i)))
			mu.Lock()
			sent++
			if a.status != 200 {
				failed++
			}
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	old := st.Servers[0]
	time.Sleep(200 * time.Millisecond)
	old.Stop()
	promoted := st.WaitFailover(t, old)
	t.Logf("%s promoted", promoted.Addr)

	// The guard finds the new master by itself.
	var again answer
	deadline := time.Now().Add(15 * time.Second)
	for {
		again = do(t, delivery(t, c.URL, "/cb", "before-failover"))
		if again.header.Get("X-Callback-Replayed") == "true" || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if again.header.Get("X-Callback-Replayed") != "true" || again.body != before.body {
		t.Fatalf("the answer stored before the failover was not replayed: %d %q %v", again.status, again.body, again.header)
	}
	mu.Lock()
	t.Logf("%d deliveries during the failover, %d not answered 200", sent, failed)
	if failed > 0 {
		t.Errorf("%d deliveries during the failover failed; store_failure open forwards them", failed)
	}
	mu.Unlock()
	forwards := up.Count()
	first := do(t, delivery(t, c.URL, "/cb", "after-failover"))
	second := do(t, delivery(t, c.URL, "/cb", "after-failover"))
	if first.status != 200 || second.header.Get("X-Callback-Replayed") != "true" || up.Count() != forwards+1 {
		t.Fatalf("after the failover: %d, then %d %v; %d forwards, want %d", first.status, second.status, second.header, up.Count(), forwards+1)
	}
}

// A Redis that cannot be reached shows in Caddy's own log: each failed
// dial at DEBUG under callback_guard.redis, without the URL's password.
func TestRedisDialFailuresInCaddysLog(t *testing.T) {
	up := testcaddy.NewUpstream(t)
	cfg := strings.Replace(redisConfig(up, fmt.Sprintf("redis://:hunter2@127.0.0.1:%d/0", testcaddy.FreePort(t)), "open"),
		"admin @ADMIN@", "admin @ADMIN@\n\tdebug", 1)
	c := testcaddy.Start(t, cfg)
	if a := do(t, delivery(t, c.URL, "/cb", "no-redis")); a.status != 200 {
		t.Fatalf("with Redis unreachable: %d", a.status)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(c.Log(), "redis dial failed") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	var dial string
	for _, line := range strings.Split(c.Log(), "\n") {
		if strings.Contains(line, "redis dial failed") {
			dial = line
		}
	}
	if strings.Contains(dial, "hunter2") {
		t.Errorf("the dial failure shows the password: %s", dial)
	}
	if !strings.Contains(dial, `"level":"debug"`) || !strings.Contains(dial, `"logger":"callback_guard.redis"`) || !strings.Contains(dial, "connection refused") {
		t.Fatalf("no dial failure at DEBUG in Caddy's log: %q\n%s", dial, c.Log())
	}
}
