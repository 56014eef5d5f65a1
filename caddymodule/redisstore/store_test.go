package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/caddymodule/dedupe"
	"github.com/callbackguard/callbackguard/internal/redistest"
)

func TestFirstClaimWins(t *testing.T) {
	srv := redistest.Start(t)
	a := newInstance(t, srv, Options{})
	b := newInstance(t, srv, Options{Prefix: a.prefix})

	first := mustClaim(t, a, "k", dedupe.Claimed)
	if first.Attempt != 1 {
		t.Fatalf("first claim attempt = %d, want 1", first.Attempt)
	}
	mustClaim(t, a, "k", dedupe.InFlight)
	mustClaim(t, b, "k", dedupe.InFlight) // the other instance sees the claim
	mustClaim(t, b, "other", dedupe.Claimed)
	mustDo(t, "Complete", a.Complete(t.Context(), "k", first.Token, answerFor("k"), ttl))
	for _, s := range []instance{a, b} {
		if got := mustClaim(t, s, "k", dedupe.Answered); !sameAnswer(got.Answer, answerFor("k")) {
			t.Fatalf("replayed %+v", got.Answer)
		}
	}
}

func TestTokensAreRandomAndNonZero(t *testing.T) {
	srv := redistest.Start(t)
	s := newInstance(t, srv, Options{})
	seen := map[uint64]bool{}
	for i := range 300 {
		c := mustClaim(t, s, fmt.Sprint("k", i), dedupe.Claimed)
		if seen[c.Token] {
			t.Fatalf("token %d drawn twice", c.Token)
		}
		seen[c.Token] = true
	}
}

// TestConcurrentClaimsAcrossInstances is the load balancer's case: the
// deliveries of one key spread over two instances. Polling is off (an hour),
// so the waiters can only wake by the wake-up the answer publishes.
func TestConcurrentClaimsAcrossInstances(t *testing.T) {
	srv := redistest.Start(t)
	a := newInstance(t, srv, Options{PollInterval: time.Hour})
	b := newInstance(t, srv, Options{Prefix: a.prefix, PollInterval: time.Hour})
	waitSubscribed(t, 1, a.Store, b.Store)
	stores := []instance{a, b}

	const n = 50
	var (
		start, claimed sync.WaitGroup
		results        [n]dedupe.Claim
		errs           [n]error
	)
	start.Add(1)
	claimed.Add(n)
	for i := range n {
		go func() {
			defer claimed.Done()
			start.Wait()
			results[i], errs[i] = stores[i%2].Claim(context.Background(), "k", claimTTL)
		}()
	}
	start.Done()
	claimed.Wait()

	winner := -1
	for i, c := range results {
		mustDo(t, "Claim", errs[i])
		switch c.State {
		case dedupe.Claimed:
			if winner >= 0 {
				t.Fatalf("claims %d and %d both won", winner, i)
			}
			winner = i
		case dedupe.InFlight:
		default:
			t.Fatalf("claim %d: %v", i, c.State)
		}
	}
	if winner < 0 {
		t.Fatal("no claim won")
	}

	var replays sync.WaitGroup
	replayed := make(chan *dedupe.Answer, n)
	failures := make(chan error, n)
	for i := range n {
		if i == winner {
			continue
		}
		replays.Add(1)
		go func() {
			defer replays.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			s := stores[i%2]
			if err := s.Wait(ctx, "k"); err != nil {
				failures <- fmt.Errorf("wait: %w", err)
				return
			}
			c, err := s.Claim(ctx, "k", claimTTL)
			if err != nil || c.State != dedupe.Answered {
				failures <- fmt.Errorf("claim after wait: %v %v", c.State, err)
				return
			}
			replayed <- c.Answer
		}()
	}
	// Let the waiters block, then answer from the winner's instance.
	deadline := time.Now().Add(5 * time.Second)
	for a.waiters.waiting()+b.waiters.waiting() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	answered := time.Now()
	mustDo(t, "Complete", stores[winner%2].Complete(t.Context(), "k", results[winner].Token, answerFor("k"), ttl))
	replays.Wait()
	t.Logf("%d waiters over two instances woke and replayed within %v of the answer", n-1, time.Since(answered))
	close(failures)
	close(replayed)
	for err := range failures {
		t.Error(err)
	}
	count := 0
	for a := range replayed {
		count++
		if !sameAnswer(a, answerFor("k")) {
			t.Fatalf("replayed %+v", a)
		}
	}
	if count != n-1 {
		t.Fatalf("%d replays, want %d", count, n-1)
	}
}

func TestAttemptsCount(t *testing.T) {
	srv := redistest.Start(t)
	a := newInstance(t, srv, Options{})
	b := newInstance(t, srv, Options{Prefix: a.prefix})
	steps := []struct {
		name        string
		claimer     instance
		end         func(c dedupe.Claim) error // ends the previous claim, or nil to abandon it
		hold        time.Duration              // the claimTTL of this step's claim
		wantAttempt int
	}{
		{"first claim", a, nil, claimTTL, 1},
		{"after a release", a, func(c dedupe.Claim) error { return a.Release(t.Context(), "k", c.Token, ttl) }, claimTTL, 2},
		{"after a release, claimed at the other instance", b, func(c dedupe.Claim) error { return a.Release(t.Context(), "k", c.Token, ttl) }, claimTTL, 3},
		{"after a release by the other instance", a, func(c dedupe.Claim) error { return b.Release(t.Context(), "k", c.Token, ttl) }, shortClaim, 4},
		{"after an abandoned claim", b, func(dedupe.Claim) error { time.Sleep(shortClaim + 50*time.Millisecond); return nil }, claimTTL, 5},
	}
	var prev dedupe.Claim
	for _, step := range steps {
		if step.end != nil {
			mustDo(t, step.name, step.end(prev))
		}
		prev = mustClaimTTL(t, step.claimer, "k", step.hold, dedupe.Claimed)
		if prev.Attempt != step.wantAttempt {
			t.Fatalf("%s: attempt %d, want %d", step.name, prev.Attempt, step.wantAttempt)
		}
		mustClaim(t, a, "k", dedupe.InFlight)
		mustClaim(t, b, "k", dedupe.InFlight)
	}
	mustDo(t, "Complete", b.Complete(t.Context(), "k", prev.Token, answerFor("k"), ttl))
	mustClaim(t, a, "k", dedupe.Answered)
}

func TestCompleteAndRelease(t *testing.T) {
	ctx := context.Background()
	expire := func() { time.Sleep(shortClaim + 50*time.Millisecond) }
	cases := []struct {
		name string
		// run does the steps on two instances and returns the key's
		// expected answer (nil: none stored).
		run func(t *testing.T, a, b instance) *dedupe.Answer
	}{
		{"holder completes", func(t *testing.T, a, _ instance) *dedupe.Answer {
			c := mustClaim(t, a, "k", dedupe.Claimed)
			mustDo(t, "Complete", a.Complete(ctx, "k", c.Token, answerFor("a"), ttl))
			return answerFor("a")
		}},
		{"late answer after the claim expired", func(t *testing.T, a, _ instance) *dedupe.Answer {
			c := mustClaimTTL(t, a, "k", shortClaim, dedupe.Claimed)
			expire()
			mustDo(t, "Complete", a.Complete(ctx, "k", c.Token, answerFor("a"), ttl))
			return answerFor("a")
		}},
		{"late answer after a release", func(t *testing.T, a, _ instance) *dedupe.Answer {
			c := mustClaim(t, a, "k", dedupe.Claimed)
			mustDo(t, "Release", a.Release(ctx, "k", c.Token, ttl))
			mustDo(t, "Complete", a.Complete(ctx, "k", c.Token, answerFor("a"), ttl))
			return answerFor("a")
		}},
		{"answer for a key never claimed", func(t *testing.T, a, _ instance) *dedupe.Answer {
			mustDo(t, "Complete", a.Complete(ctx, "k", 0, answerFor("a"), ttl))
			return answerFor("a")
		}},
		{"never overwrites an answer", func(t *testing.T, a, b instance) *dedupe.Answer {
			c := mustClaim(t, a, "k", dedupe.Claimed)
			mustDo(t, "Complete", a.Complete(ctx, "k", c.Token, answerFor("a"), ttl))
			mustDo(t, "Complete again", a.Complete(ctx, "k", c.Token, answerFor("b"), ttl))
			mustDo(t, "Complete unclaimed", b.Complete(ctx, "k", 0, answerFor("c"), ttl))
			return answerFor("a")
		}},
		{"stale token completes after a new claim", func(t *testing.T, a, b instance) *dedupe.Answer {
			stale := mustClaimTTL(t, a, "k", shortClaim, dedupe.Claimed)
			expire()
			fresh := mustClaim(t, b, "k", dedupe.Claimed)
			if err := a.Complete(ctx, "k", stale.Token, answerFor("stale"), ttl); !errors.Is(err, dedupe.ErrNotHeld) {
				t.Fatalf("stale Complete: %v, want ErrNotHeld", err)
			}
			mustClaim(t, a, "k", dedupe.InFlight)
			mustDo(t, "Complete", b.Complete(ctx, "k", fresh.Token, answerFor("fresh"), ttl))
			return answerFor("fresh")
		}},
		{"stale token releases after a new claim", func(t *testing.T, a, b instance) *dedupe.Answer {
			stale := mustClaimTTL(t, a, "k", shortClaim, dedupe.Claimed)
			expire()
			mustClaim(t, b, "k", dedupe.Claimed)
			if err := a.Release(ctx, "k", stale.Token, ttl); !errors.Is(err, dedupe.ErrNotHeld) {
				t.Fatalf("stale Release: %v, want ErrNotHeld", err)
			}
			mustClaim(t, a, "k", dedupe.InFlight)
			return nil
		}},
		{"release with another token", func(t *testing.T, a, b instance) *dedupe.Answer {
			c := mustClaim(t, a, "k", dedupe.Claimed)
			if err := b.Release(ctx, "k", c.Token+1, ttl); !errors.Is(err, dedupe.ErrNotHeld) {
				t.Fatalf("Release with another token: %v, want ErrNotHeld", err)
			}
			mustClaim(t, b, "k", dedupe.InFlight)
			return nil
		}},
		{"complete with another token", func(t *testing.T, a, b instance) *dedupe.Answer {
			c := mustClaim(t, a, "k", dedupe.Claimed)
			if err := b.Complete(ctx, "k", c.Token+1, answerFor("b"), ttl); !errors.Is(err, dedupe.ErrNotHeld) {
				t.Fatalf("Complete with another token: %v, want ErrNotHeld", err)
			}
			mustClaim(t, b, "k", dedupe.InFlight)
			mustDo(t, "Complete", a.Complete(ctx, "k", c.Token, answerFor("a"), ttl))
			return answerFor("a")
		}},
		{"release after complete", func(t *testing.T, a, _ instance) *dedupe.Answer {
			c := mustClaim(t, a, "k", dedupe.Claimed)
			mustDo(t, "Complete", a.Complete(ctx, "k", c.Token, answerFor("a"), ttl))
			if err := a.Release(ctx, "k", c.Token, ttl); !errors.Is(err, dedupe.ErrNotHeld) {
				t.Fatalf("Release after Complete: %v, want ErrNotHeld", err)
			}
			return answerFor("a")
		}},
		{"release twice", func(t *testing.T, a, b instance) *dedupe.Answer {
			c := mustClaim(t, a, "k", dedupe.Claimed)
			mustDo(t, "Release", a.Release(ctx, "k", c.Token, ttl))
			if err := a.Release(ctx, "k", c.Token, ttl); !errors.Is(err, dedupe.ErrNotHeld) {
				t.Fatalf("second Release: %v, want ErrNotHeld", err)
			}
			if again := mustClaim(t, b, "k", dedupe.Claimed); again.Attempt != 2 {
				t.Fatalf("attempt after one release = %d, want 2", again.Attempt)
			}
			return nil
		}},
		{"release of an expired claim", func(t *testing.T, a, b instance) *dedupe.Answer {
			c := mustClaimTTL(t, a, "k", shortClaim, dedupe.Claimed)
			expire()
			if err := a.Release(ctx, "k", c.Token, ttl); !errors.Is(err, dedupe.ErrNotHeld) {
				t.Fatalf("Release of an expired claim: %v, want ErrNotHeld", err)
			}
			if again := mustClaim(t, b, "k", dedupe.Claimed); again.Attempt != 2 {
				t.Fatalf("attempt after an expired claim = %d, want 2", again.Attempt)
			}
			return nil
		}},
	}
	srv := redistest.Start(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := newInstance(t, srv, Options{})
			b := newInstance(t, srv, Options{Prefix: a.prefix})
			want := tc.run(t, a, b)
			if want == nil {
				return
			}
			for _, s := range []instance{a, b} {
				if got := mustClaim(t, s, "k", dedupe.Answered); !sameAnswer(got.Answer, want) {
					t.Fatalf("stored answer %+v, want %+v", got.Answer, want)
				}
			}
		})
	}
}

func TestExpiryAfterTTL(t *testing.T) {
	const short = 300 * time.Millisecond
	srv := redistest.Start(t)
	s := newInstance(t, srv, Options{})
	c := mustClaim(t, s, "answered", dedupe.Claimed)
	mustDo(t, "Complete", s.Complete(t.Context(), "answered", c.Token, answerFor("a"), short))
	c = mustClaim(t, s, "released", dedupe.Claimed)
	mustDo(t, "Release", s.Release(t.Context(), "released", c.Token, short))

	mustClaim(t, s, "answered", dedupe.Answered)
	if c := mustClaim(t, s, "released", dedupe.Claimed); c.Attempt != 2 {
		t.Fatalf("attempt within ttl = %d, want 2", c.Attempt)
	} else {
		mustDo(t, "Release", s.Release(t.Context(), "released", c.Token, short))
	}

	time.Sleep(short + 100*time.Millisecond) // past both ttls: the answer and the count are gone
	if c := mustClaim(t, s, "answered", dedupe.Claimed); c.Attempt != 1 {
		t.Fatalf("attempt after the answer expired = %d, want 1", c.Attempt)
	}
	if c := mustClaim(t, s, "released", dedupe.Claimed); c.Attempt != 1 {
		t.Fatalf("attempt after the count expired = %d, want 1", c.Attempt)
	}
}

// TestDeadInstanceDoesNotBlockTheKey: an instance that dies holding a claim
// (it never completes nor releases) holds the key for claimTTL, no longer;
// the next claim, at another instance, is the next attempt.
func TestDeadInstanceDoesNotBlockTheKey(t *testing.T) {
	srv := redistest.Start(t)
	a := newInstance(t, srv, Options{})
	b := newInstance(t, srv, Options{Prefix: a.prefix, PollInterval: time.Hour})
	claimed := time.Now()
	mustClaimTTL(t, a, "k", shortClaim, dedupe.Claimed)
	a.Close()
	_ = a.client.Close() // the instance is gone

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
	// The abandoned claim's count is kept for a day.
	if pttl := b.client.PTTL(t.Context(), b.prefix+"k").Val(); pttl < abandonedAttemptsTTL {
		t.Fatalf("PTTL while claimed = %v, want at least %v", pttl, abandonedAttemptsTTL)
	}
}

// TestLayout pins the documented data layout, which other tools (and a
// later version of this store, after an upgrade) read.
func TestLayout(t *testing.T) {
	srv := redistest.Start(t)
	s := newInstance(t, srv, Options{Prefix: "cg:"})
	ctx := t.Context()
	fields := func() map[string]string { return s.client.HGetAll(ctx, "cg:k").Val() }
	pttl := func() time.Duration { return s.client.PTTL(ctx, "cg:k").Val() }

	c := mustClaim(t, s, "k", dedupe.Claimed)
	f := fields()
	if f["t"] != fmt.Sprint(c.Token) || f["n"] != "1" || f["e"] == "" || len(f) != 3 {
		t.Fatalf("claimed: %v", f)
	}
	if d := pttl(); d < claimTTL+abandonedAttemptsTTL-time.Second {
		t.Fatalf("claimed: PTTL %v", d)
	}
	mustDo(t, "Release", s.Release(ctx, "k", c.Token, ttl))
	if f := fields(); f["n"] != "1" || len(f) != 1 {
		t.Fatalf("released: %v", f)
	}
	if d := pttl(); d > ttl || d < ttl-time.Second {
		t.Fatalf("released: PTTL %v", d)
	}
	c = mustClaim(t, s, "k", dedupe.Claimed)
	// A watched claim is marked, so that its end publishes a wake-up.
	waitCtx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_ = s.Wait(waitCtx, "k")
	cancel()
	if f := fields(); f["w"] != "1" || f["n"] != "2" {
		t.Fatalf("watched: %v", f)
	}
	mustDo(t, "Complete", s.Complete(ctx, "k", c.Token, answerFor("k"), ttl))
	f = fields()
	if len(f) != 1 || f["a"] != string(dedupe.EncodeAnswer(nil, answerFor("k"))) {
		t.Fatalf("answered: %q", f)
	}
	if d := pttl(); d > ttl || d < ttl-time.Second {
		t.Fatalf("answered: PTTL %v", d)
	}
}

func TestPrefixesAreSeparate(t *testing.T) {
	srv := redistest.Start(t)
	a := newInstance(t, srv, Options{Prefix: "one:"})
	b := newInstance(t, srv, Options{Prefix: "two:"})
	mustClaim(t, a, "k", dedupe.Claimed)
	mustClaim(t, b, "k", dedupe.Claimed)
	d := New(a.client, Options{})
	defer d.Close()
	if d.prefix != DefaultPrefix || d.channel != DefaultPrefix+"done" || d.timeout != DefaultCallTimeout || d.poll != DefaultPollInterval {
		t.Fatalf("defaults: %q %q %v %v", d.prefix, d.channel, d.timeout, d.poll)
	}
}

func TestInvalidArguments(t *testing.T) {
	srv := redistest.Start(t)
	s := newInstance(t, srv, Options{})
	ctx := t.Context()
	for name, err := range map[string]error{
		"claim ttl 0":      func() error { _, err := s.Claim(ctx, "k", 0); return err }(),
		"complete ttl 0":   s.Complete(ctx, "k", 1, answerFor("k"), 0),
		"complete nil":     s.Complete(ctx, "k", 1, nil, ttl),
		"release ttl -1ns": s.Release(ctx, "k", 1, -1),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if s.Kind() != "redis" {
		t.Errorf("Kind = %q", s.Kind())
	}
}

func TestHugeTTLsSaturate(t *testing.T) {
	srv := redistest.Start(t)
	s := newInstance(t, srv, Options{})
	forever := time.Duration(math.MaxInt64)
	c := mustClaimTTL(t, s, "k", forever, dedupe.Claimed)
	mustClaim(t, s, "k", dedupe.InFlight)
	if d := s.client.PTTL(t.Context(), s.prefix+"k").Val(); d < 99*365*24*time.Hour {
		t.Fatalf("PTTL of a claim forever = %v", d)
	}
	mustDo(t, "Complete", s.Complete(t.Context(), "k", c.Token, answerFor("k"), forever))
	mustClaim(t, s, "k", dedupe.Answered)
	if d := s.client.PTTL(t.Context(), s.prefix+"k").Val(); d < 99*365*24*time.Hour {
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

// TestClaimScriptIsIdempotent: go-redis may run a script again when it
// lost the reply (a retry on a broken connection). A Claim's second run,
// with the same token, gets its own claim back, not "in flight"; another
// token still gets "in flight".
func TestClaimScriptIsIdempotent(t *testing.T) {
	srv := redistest.Start(t)
	s := newInstance(t, srv, Options{})
	rkey := []string{s.prefix + "k"}
	run := func(token string) any {
		v, err := claimScript.Run(t.Context(), s.client, rkey, token, millis(claimTTL), millis(claimTTL)).Result()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if first, again := run("7"), run("7"); first != int64(1) || again != int64(1) {
		t.Fatalf("claim and its retry: %v, %v; want attempt 1 twice", first, again)
	}
	if other := run("8"); other != int64(0) {
		t.Fatalf("another token: %v, want 0 (in flight)", other)
	}
}
