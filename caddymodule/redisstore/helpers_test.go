package redisstore

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/callbackguard/callbackguard/caddymodule/dedupe"
	"github.com/callbackguard/callbackguard/internal/redistest"
)

const (
	claimTTL = time.Minute
	ttl      = time.Hour
	// shortClaim is a claim that tests let expire, in real time.
	shortClaim = 150 * time.Millisecond
)

// instance is one "Caddy instance": a client of its own and a Store on it.
type instance struct {
	client redis.UniversalClient
	*Store
}

// newInstance connects to srv and returns a Store with opts; Prefix
// defaults to one of the test's own, so that tests sharing a server do not
// see each other's keys.
func newInstance(t testing.TB, srv *redistest.Server, opts Options) instance {
	t.Helper()
	client, err := NewClient(srv.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	if opts.Prefix == "" {
		opts.Prefix = testPrefix(t)
	}
	s := New(client, opts)
	t.Cleanup(s.Close)
	return instance{client, s}
}

func testPrefix(t testing.TB) string {
	return "test:" + strings.ReplaceAll(t.Name(), " ", "_") + ":"
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

func answerFor(key string) *dedupe.Answer {
	return &dedupe.Answer{
		Status: 200,
		Header: http.Header{"Content-Type": {"application/json"}, "Location": {"/orders/" + key}},
		Body:   []byte(`{"received":"` + key + `"}`),
	}
}

// sameAnswer compares answers by their encoding, which is canonical.
func sameAnswer(a, b *dedupe.Answer) bool {
	if a == nil || b == nil {
		return a == b
	}
	return bytes.Equal(dedupe.EncodeAnswer(nil, a), dedupe.EncodeAnswer(nil, b))
}

func mustClaimTTL(t *testing.T, s dedupe.Store, key string, d time.Duration, want dedupe.State) dedupe.Claim {
	t.Helper()
	c, err := s.Claim(context.Background(), key, d)
	if err != nil {
		t.Fatalf("Claim(%q): %v", key, err)
	}
	if c.State != want {
		t.Fatalf("Claim(%q) = %v, want %v", key, c.State, want)
	}
	switch c.State {
	case dedupe.Claimed:
		if c.Token == 0 || c.Attempt < 1 || c.Answer != nil {
			t.Fatalf("Claim(%q) = %+v: a claim needs a token and an attempt", key, c)
		}
	case dedupe.Answered:
		if c.Answer == nil || c.Token != 0 {
			t.Fatalf("Claim(%q) = %+v: an answered claim carries the answer only", key, c)
		}
	case dedupe.InFlight:
		if c.Token != 0 || c.Answer != nil {
			t.Fatalf("Claim(%q) = %+v: an in-flight claim carries nothing", key, c)
		}
	}
	return c
}

func mustClaim(t *testing.T, s dedupe.Store, key string, want dedupe.State) dedupe.Claim {
	t.Helper()
	return mustClaimTTL(t, s, key, claimTTL, want)
}

func mustDo(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
