// Package storetest is the conformance suite of dedupe.Store: the semantics
// the guard relies on (claims, answers and their replay, releases, waits,
// attempt counts, expiry), run against every store so that they stay
// interchangeable. The memory store runs it in package dedupe, the Redis
// store in package redisstore, on a real redis-server.
//
// Time is real: claims meant to expire live ShortClaim, answers meant to
// expire ShortTTL, so that a store judged by its own clock (Redis's) is
// tested as it runs.
package storetest

import (
	"bytes"
	"context"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/caddymodule/dedupe"
)

// The lifetimes the cases use.
const (
	ClaimTTL   = time.Minute
	TTL        = time.Hour
	ShortClaim = 150 * time.Millisecond
	ShortTTL   = 300 * time.Millisecond
	// margin is what an expiry or a wake-up may take beyond its time on a
	// loaded machine (CI under -race).
	margin = 250 * time.Millisecond
)

// Open returns two handles on one fresh, empty keyspace, as two Caddy
// instances behind a load balancer would have them: two stores on one
// Redis, or the one in-process store twice. The store is closed when t
// ends.
type Open func(t *testing.T) (a, b dedupe.Store)

// Run runs every case of the suite, each on a keyspace of its own, in
// parallel.
func Run(t *testing.T, open Open) {
	cases := []struct {
		name string
		run  func(t *testing.T, a, b dedupe.Store)
	}{
		{"first claim wins", firstClaimWins},
		{"tokens are random and not zero", tokensAreRandom},
		{"attempts count", attemptsCount},
		{"answers expire after their ttl", expiryAfterTTL},
		{"concurrent claims", concurrentClaims},
		{"wait returns at once when not held", waitWhenNotHeld},
		{"answers replay exactly", answersReplayExactly},
		{"keys are opaque", keysAreOpaque},
		{"huge ttls saturate", hugeTTLs},
		{"invalid arguments", invalidArguments},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b := open(t)
			tc.run(t, a, b)
		})
	}
	t.Run("complete and release", func(t *testing.T) { completeAndRelease(t, open) })
	t.Run("wait", func(t *testing.T) { RunWait(t, open) })
}

// AnswerFor is the answer the cases store under key.
func AnswerFor(key string) *dedupe.Answer {
	return &dedupe.Answer{
		Status: 200,
		Header: http.Header{"Content-Type": {"application/json"}, "Location": {"/orders/" + key}},
		Body:   []byte(`{"received":"` + key + `"}`),
	}
}

// SameAnswer compares answers as a replay sees them: a header without
// values and a missing header are alike, and so are nil and empty bodies.
func SameAnswer(a, b *dedupe.Answer) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Status != b.Status || !bytes.Equal(a.Body, b.Body) {
		return false
	}
	return reflect.DeepEqual(nonEmpty(a.Header), nonEmpty(b.Header))
}

func nonEmpty(h http.Header) http.Header {
	out := http.Header{}
	for k, v := range h {
		if len(v) > 0 {
			out[k] = v
		}
	}
	return out
}

// MustClaimTTL claims key for d and fails t unless the state is want and
// the claim carries what that state promises.
func MustClaimTTL(t testing.TB, s dedupe.Store, key string, d time.Duration, want dedupe.State) dedupe.Claim {
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

// MustClaim is MustClaimTTL for ClaimTTL.
func MustClaim(t testing.TB, s dedupe.Store, key string, want dedupe.State) dedupe.Claim {
	t.Helper()
	return MustClaimTTL(t, s, key, ClaimTTL, want)
}

// MustDo fails t on err.
func MustDo(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// expire sleeps until a ShortClaim taken now has expired.
func expire() { time.Sleep(ShortClaim + 50*time.Millisecond) }
