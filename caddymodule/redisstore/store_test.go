package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/caddymodule/dedupe"
	"github.com/callbackguard/callbackguard/caddymodule/dedupe/storetest"
	"github.com/callbackguard/callbackguard/internal/redistest"
)

// TestConformance runs the store suite with two Stores on one real
// redis-server, as two Caddy instances would share it.
func TestConformance(t *testing.T) {
	srv := redistest.Start(t)
	storetest.Run(t, func(t *testing.T) (a, b dedupe.Store) {
		return pair(t, srv, Options{})
	})
}

// TestLayout pins the documented data layout (scripts.go), which other
// tools, and the next version of this store after an upgrade, read.
func TestLayout(t *testing.T) {
	srv := redistest.Start(t)
	s := newInstance(t, srv.URL(0), Options{Prefix: "cg:"})
	ctx := t.Context()
	entry, count := "cg:{k}", "cg:{k}n"
	get := func(key string) any { return do(t, srv, "GET", key) }

	c := mustClaim(t, s, "k", dedupe.Claimed)
	if get(entry) != fmt.Sprint("c", c.Token) || get(count) != "1" {
		t.Fatalf("claimed: %q %q", get(entry), get(count))
	}
	if d := pttl(t, srv, entry); d > claimTTL || d < claimTTL-time.Second {
		t.Fatalf("claimed: the entry's PTTL is %v, want the claim's %v", d, claimTTL)
	}
	if d := pttl(t, srv, count); d < claimTTL+abandonedAttemptsTTL-time.Second {
		t.Fatalf("claimed: the count's PTTL is %v, want the claim's and a day", d)
	}
	mustDo(t, "Release", s.Release(ctx, "k", c.Token, ttl))
	if get(entry) != nil || get(count) != "1" {
		t.Fatalf("released: %q %q", get(entry), get(count))
	}
	if d := pttl(t, srv, count); d > ttl || d < ttl-time.Second {
		t.Fatalf("released: the count's PTTL is %v, want %v", d, ttl)
	}
	c = mustClaim(t, s, "k", dedupe.Claimed)
	// A watched claim is marked, so that its end publishes a wake-up.
	waitCtx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_ = s.Wait(waitCtx, "k")
	cancel()
	if get(entry) != fmt.Sprint("w", c.Token) || get(count) != "2" {
		t.Fatalf("watched: %q %q", get(entry), get(count))
	}
	mustDo(t, "Complete", s.Complete(ctx, "k", c.Token, answerFor("k"), ttl))
	if get(entry) != "a"+string(dedupe.EncodeAnswer(nil, answerFor("k"))) || get(count) != nil {
		t.Fatalf("answered: %q %q", get(entry), get(count))
	}
	if d := pttl(t, srv, entry); d > ttl || d < ttl-time.Second {
		t.Fatalf("answered: PTTL %v", d)
	}
	if keys := do(t, srv, "KEYS", "*").([]any); len(keys) != 1 {
		t.Fatalf("keys left: %v", keys)
	}
}

// TestDeadInstanceDoesNotBlockTheKey: an instance that dies holding a claim
// (it never completes nor releases) holds the key for claimTTL, no longer;
// a wait at another instance ends on the claim's own expiry, and the next
// claim there is the next attempt.
func TestDeadInstanceDoesNotBlockTheKey(t *testing.T) {
	srv := redistest.Start(t)
	a, b := pair(t, srv, Options{PollInterval: time.Hour})
	claimed := time.Now()
	mustClaimTTL(t, a, "k", shortClaim, dedupe.Claimed)
	a.Close() // the instance is gone

	mustClaim(t, b, "k", dedupe.InFlight)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	mustDo(t, "Wait", b.Wait(ctx, "k"))
	// Polling is off: the wait ended on the claim's own expiry.
	if waited := time.Since(claimed); waited < shortClaim-10*time.Millisecond || waited > shortClaim+200*time.Millisecond {
		t.Fatalf("Wait ended %v after a claim of %v", waited, shortClaim)
	}
	if c := mustClaim(t, b, "k", dedupe.Claimed); c.Attempt != 2 {
		t.Fatalf("attempt after the dead instance's claim = %d, want 2", c.Attempt)
	}
}

func TestOptions(t *testing.T) {
	srv := redistest.Start(t)
	a := newInstance(t, srv.URL(0), Options{Prefix: "one:"})
	b := newInstance(t, srv.URL(0), Options{Prefix: "two:"})
	mustClaim(t, a, "k", dedupe.Claimed)
	mustClaim(t, b, "k", dedupe.Claimed) // prefixes keep stores apart

	d, err := Open(srv.URL(0), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.prefix != DefaultPrefix || d.channel != DefaultPrefix+"done" || d.timeout != DefaultCallTimeout || d.poll != DefaultPollInterval || d.Kind() != "redis" {
		t.Fatalf("defaults: %q %q %v %v %q", d.prefix, d.channel, d.timeout, d.poll, d.Kind())
	}
	if _, err := Open(srv.URL(0), Options{Prefix: "a{b}:"}); err == nil {
		t.Fatal("a prefix with braces was accepted")
	}
	// A key whose hash tag would be empty would split the entry from its
	// count on Cluster: the guard's keys start with the preset's name.
	for _, key := range []string{"", "}k"} {
		if _, err := a.Claim(t.Context(), key, claimTTL); !errors.Is(err, errBadKey) {
			t.Errorf("Claim(%q): %v", key, err)
		}
	}
}

func TestHugeTTLsSaturate(t *testing.T) {
	srv := redistest.Start(t)
	s := newInstance(t, srv.URL(0), Options{Prefix: "cg:"})
	forever := time.Duration(math.MaxInt64)
	c := mustClaimTTL(t, s, "k", forever, dedupe.Claimed)
	if d := pttl(t, srv, "cg:{k}"); d < 99*365*24*time.Hour {
		t.Fatalf("PTTL of a claim forever = %v", d)
	}
	mustDo(t, "Complete", s.Complete(t.Context(), "k", c.Token, answerFor("k"), forever))
	if d := pttl(t, srv, "cg:{k}"); d < 99*365*24*time.Hour {
		t.Fatalf("PTTL of an answer kept forever = %v", d)
	}
}

func TestMillis(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int64
	}{
		{time.Nanosecond, 1},
		{time.Millisecond, 1},
		{time.Millisecond + 1, 2},
		{time.Hour, 3_600_000},
		{math.MaxInt64, maxTTL.Milliseconds()},
	} {
		if got := millis(tc.d); got != tc.want {
			t.Errorf("millis(%v) = %d, want %d", tc.d, got, tc.want)
		}
	}
}

// TestClaimScriptIsIdempotent: a script may run again when its reply was
// lost. A Claim's second run, with the same token, gets its own claim back,
// not "in flight"; another token still gets "in flight".
func TestClaimScriptIsIdempotent(t *testing.T) {
	srv := redistest.Start(t)
	s := newInstance(t, srv.URL(0), Options{})
	keys, _ := s.keys("k")
	run := func(token string) any {
		msg, err := s.run(t.Context(), claimScript, keys, token, "60000", "60000")
		if err != nil {
			t.Fatal(err)
		}
		n, err := msg.AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if first, again := run("7"), run("7"); first != int64(1) || again != int64(1) {
		t.Fatalf("claim and its retry: %v, %v; want attempt 1 twice", first, again)
	}
	if other := run("8"); other != int64(0) {
		t.Fatalf("another token: %v, want 0 (in flight)", other)
	}
}
