package redisstore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/caddymodule/dedupe/storetest"
	"github.com/callbackguard/callbackguard/internal/redistest"
)

const (
	claimTTL = storetest.ClaimTTL
	ttl      = storetest.TTL
	// shortClaim is a claim that tests let expire, in real time.
	shortClaim = storetest.ShortClaim
)

var (
	answerFor    = storetest.AnswerFor
	sameAnswer   = storetest.SameAnswer
	mustClaim    = storetest.MustClaim
	mustClaimTTL = storetest.MustClaimTTL
	mustDo       = storetest.MustDo
)

// newInstance opens a Store on rawURL with opts, as one Caddy instance
// would; Prefix defaults to one of the test's own, so that tests sharing a
// server do not see each other's keys, and CallTimeout to 2s: the tests of
// what the store does must not fail when -race and a busy machine make a
// call slow (the failure tests set the timeouts they test).
func newInstance(t testing.TB, rawURL string, opts Options) *Store {
	t.Helper()
	if opts.Prefix == "" {
		opts.Prefix = testPrefix(t)
	}
	if opts.CallTimeout == 0 {
		opts.CallTimeout = 2 * time.Second
	}
	s, err := Open(rawURL, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	waitDialed(s)
	return s
}

// waitDialed waits until the store's first connection attempt is over,
// whatever its outcome: a test about what the store does should not race
// its dial (several round trips, slow under -race) against CallTimeout.
func waitDialed(s *Store) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = s.conn.get(ctx)
}

// pair is two instances on srv sharing a prefix, with opts.
func pair(t testing.TB, srv *redistest.Server, opts Options) (a, b *Store) {
	t.Helper()
	a = newInstance(t, srv.URL(0), opts)
	opts.Prefix = a.prefix
	return a, newInstance(t, srv.URL(0), opts)
}

func testPrefix(t testing.TB) string {
	return "test:" + strings.NewReplacer(" ", "_", "{", "(", "}", ")").Replace(t.Name()) + ":"
}

// waitSubscribed waits until the stores' subscribers have subscribed n
// times (1: the first subscription, 2: once more after a lost connection),
// so that a test relying on wake-ups does not race the subscribers.
func waitSubscribed(t testing.TB, n int64, stores ...*Store) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, s := range stores {
		for s.subscriptions.Load() < n {
			if time.Now().After(deadline) {
				t.Fatal("a store's subscriber did not subscribe within 10s")
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// do runs a command on srv and fails t on an error.
func do(t testing.TB, srv *redistest.Server, args ...string) any {
	t.Helper()
	v, err := srv.Do(args...)
	if err != nil {
		t.Fatalf("%s: %v", strings.Join(args, " "), err)
	}
	return v
}

// pttl is the time to live of a key (negative: none, or no key).
func pttl(t testing.TB, srv *redistest.Server, key string) time.Duration {
	t.Helper()
	ms, _ := do(t, srv, "PTTL", key).(int64)
	return time.Duration(ms) * time.Millisecond
}

// waiting is the number of keys with local waits.
func (ws *waiters) waiting() int {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return len(ws.m)
}
