//go:build unix

package redisstore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/caddymodule/dedupe"
	"github.com/callbackguard/callbackguard/internal/redistest"
)

// failMargin is what a failing call may take beyond CallTimeout: a loaded
// CI machine under -race is slow to schedule the timer's goroutine.
const failMargin = 300 * time.Millisecond

// timedOps are the store's operations, each timed and expected to fail.
func timedOps(s *Store) map[string]func(ctx context.Context) error {
	return map[string]func(ctx context.Context) error{
		"claim": func(ctx context.Context) error { _, err := s.Claim(ctx, "k", claimTTL); return err },
		"complete": func(ctx context.Context) error {
			return s.Complete(ctx, "k", 1, answerFor("k"), ttl)
		},
		"release": func(ctx context.Context) error { return s.Release(ctx, "k", 1, ttl) },
		"wait":    func(ctx context.Context) error { return s.Wait(ctx, "k") },
	}
}

// mustFailFast runs each operation a few times and checks that it fails
// with an error (not ErrNotHeld, not a state) within limit.
func mustFailFast(t *testing.T, s *Store, what string, limit time.Duration) {
	t.Helper()
	var slowest time.Duration
	for name, op := range timedOps(s) {
		for range 3 {
			began := time.Now()
			err := op(context.Background())
			took := time.Since(began)
			slowest = max(slowest, took)
			if err == nil || err == dedupe.ErrNotHeld {
				t.Fatalf("%s with Redis %s: %v, want a store error", name, what, err)
			}
			if !strings.HasPrefix(err.Error(), "redisstore: ") {
				t.Fatalf("%s with Redis %s: error %q does not say it is the store's", name, what, err)
			}
			if took > limit {
				t.Fatalf("%s with Redis %s failed after %v, want within %v: %v", name, what, took, limit, err)
			}
		}
	}
	t.Logf("with Redis %s, calls failed within %v (CallTimeout %v)", what, slowest, s.timeout)
}

// waitRecovered retries a Claim until it works and returns how long that
// took.
func waitRecovered(t *testing.T, s *Store, key string) (time.Duration, dedupe.Claim) {
	t.Helper()
	began := time.Now()
	for {
		c, err := s.Claim(context.Background(), key, claimTTL)
		if err == nil {
			return time.Since(began), c
		}
		if time.Since(began) > 10*time.Second {
			t.Fatalf("the store did not recover within 10s: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRedisDown: with the server dead, every operation fails within
// CallTimeout; when it comes back (empty, without the scripts), the same
// Store works again, the scripts are loaded again, and wake-ups flow again.
func TestRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	a, b := pair(t, srv, Options{PollInterval: time.Hour})
	c := mustClaim(t, a, "k", dedupe.Claimed)
	mustDo(t, "Complete", a.Complete(t.Context(), "k", c.Token, answerFor("k"), ttl))
	mustClaim(t, b, "k", dedupe.Answered) // both are connected now

	// A refused connection fails a call at once: the client redials on
	// the call and does not retry a script.
	srv.Stop()
	mustFailFast(t, a, "stopped", 100*time.Millisecond)
	mustFailFast(t, b, "stopped", 100*time.Millisecond)

	srv.Restart(t)
	if info := do(t, srv, "INFO", "memory").(string); !strings.Contains(info, "number_of_cached_scripts:0") {
		t.Fatal("the restarted server knows scripts already: the test would not test reloading")
	}
	took, c := waitRecovered(t, a, "k")
	t.Logf("the store recovered %v after the restart", took)
	tookB, _ := waitRecovered(t, b, "probe")
	t.Logf("the other instance's store recovered %v after the restart", took+tookB)
	if c.State != dedupe.Claimed || c.Attempt != 1 {
		t.Fatalf("after a restart without persistence: %+v, want a first claim", c)
	}
	// A wake-up from a to a waiter at b: b's subscriber has resubscribed.
	waitSubscribed(t, 2, b)
	done := make(chan error, 1)
	go func() { done <- b.Wait(t.Context(), "k") }()
	time.Sleep(30 * time.Millisecond)
	mustDo(t, "Complete", a.Complete(t.Context(), "k", c.Token, answerFor("k"), ttl))
	select {
	case err := <-done:
		mustDo(t, "Wait", err)
	case <-time.After(2 * time.Second):
		t.Fatal("the waiter at b did not wake after the restart")
	}
	mustClaim(t, b, "k", dedupe.Answered)
}

// TestRedisHangs: a server that accepts but never answers (stopped with
// SIGSTOP) costs each call CallTimeout, no more.
func TestRedisHangs(t *testing.T) {
	srv := redistest.Start(t)
	s := newInstance(t, srv.URL(0), Options{CallTimeout: 100 * time.Millisecond})
	mustClaim(t, s, "k", dedupe.Claimed)

	srv.Pause(t)
	mustFailFast(t, s, "hung", s.timeout+failMargin)
	srv.Resume(t)
	took, _ := waitRecovered(t, s, "other")
	t.Logf("the store recovered %v after the server resumed", took)
	mustClaim(t, s, "k", dedupe.InFlight) // the data outlived the pause
}

// TestRedisDownAtStart: a Store opened while Redis is down starts anyway,
// fails its calls at once, and works once Redis is up; its subscriber
// connects by itself.
func TestRedisDownAtStart(t *testing.T) {
	srv := redistest.Start(t)
	srv.Stop()
	a, b := pair(t, srv, Options{PollInterval: time.Hour})
	mustFailFast(t, a, "down at start", 100*time.Millisecond)
	srv.Restart(t)
	_, c := waitRecovered(t, a, "k")
	waitSubscribed(t, 1, a, b)
	done := make(chan error, 1)
	go func() { done <- b.Wait(t.Context(), "k") }()
	time.Sleep(30 * time.Millisecond)
	mustDo(t, "Release", a.Release(t.Context(), "k", c.Token, ttl))
	select {
	case err := <-done:
		mustDo(t, "Wait", err)
	case <-time.After(2 * time.Second):
		t.Fatal("the waiter did not wake")
	}
}
