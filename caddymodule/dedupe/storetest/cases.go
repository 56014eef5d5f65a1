package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/caddymodule/dedupe"
)

func firstClaimWins(t *testing.T, a, b dedupe.Store) {
	first := MustClaim(t, a, "k", dedupe.Claimed)
	if first.Attempt != 1 {
		t.Fatalf("first claim attempt = %d, want 1", first.Attempt)
	}
	MustClaim(t, a, "k", dedupe.InFlight)
	MustClaim(t, b, "k", dedupe.InFlight) // the other instance sees the claim
	MustClaim(t, b, "other", dedupe.Claimed)
	MustDo(t, "Complete", a.Complete(t.Context(), "k", first.Token, AnswerFor("k"), TTL))
	for _, s := range []dedupe.Store{a, b} {
		if got := MustClaim(t, s, "k", dedupe.Answered); !SameAnswer(got.Answer, AnswerFor("k")) {
			t.Fatalf("replayed %+v", got.Answer)
		}
	}
}

func tokensAreRandom(t *testing.T, a, _ dedupe.Store) {
	seen := map[uint64]bool{}
	for i := range 300 {
		c := MustClaim(t, a, fmt.Sprint("k", i), dedupe.Claimed)
		if seen[c.Token] {
			t.Fatalf("token %d drawn twice", c.Token)
		}
		seen[c.Token] = true
	}
}

func attemptsCount(t *testing.T, a, b dedupe.Store) {
	steps := []struct {
		name        string
		claimer     dedupe.Store
		end         func(c dedupe.Claim) error // ends the previous claim
		hold        time.Duration              // the claimTTL of this step's claim
		wantAttempt int
	}{
		{"first claim", a, nil, ClaimTTL, 1},
		{"after a release", a, func(c dedupe.Claim) error { return a.Release(t.Context(), "k", c.Token, TTL) }, ClaimTTL, 2},
		{"after a release, claimed at the other instance", b, func(c dedupe.Claim) error { return a.Release(t.Context(), "k", c.Token, TTL) }, ClaimTTL, 3},
		{"after a release by the other instance", a, func(c dedupe.Claim) error { return b.Release(t.Context(), "k", c.Token, TTL) }, ShortClaim, 4},
		{"after an abandoned claim", b, func(dedupe.Claim) error { expire(); return nil }, ClaimTTL, 5},
	}
	var prev dedupe.Claim
	for _, step := range steps {
		if step.end != nil {
			MustDo(t, step.name, step.end(prev))
		}
		prev = MustClaimTTL(t, step.claimer, "k", step.hold, dedupe.Claimed)
		if prev.Attempt != step.wantAttempt {
			t.Fatalf("%s: attempt %d, want %d", step.name, prev.Attempt, step.wantAttempt)
		}
		MustClaim(t, a, "k", dedupe.InFlight)
		MustClaim(t, b, "k", dedupe.InFlight)
	}
	MustDo(t, "Complete", b.Complete(t.Context(), "k", prev.Token, AnswerFor("k"), TTL))
	MustClaim(t, a, "k", dedupe.Answered)
}

// completeCase is a case of completeAndRelease: run does the steps on two
// instances and returns the key's expected answer (nil: none stored).
type completeCase struct {
	name string
	run  func(t *testing.T, a, b dedupe.Store) *dedupe.Answer
}

// completeAndRelease runs the cases of Complete and Release, each on two
// fresh instances, and checks the answer each leaves stored.
func completeAndRelease(t *testing.T, open Open) {
	ctx := context.Background()
	cases := append(completeCases(ctx), releaseCases(ctx)...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b := open(t)
			want := tc.run(t, a, b)
			if want == nil {
				return
			}
			for _, s := range []dedupe.Store{a, b} {
				if got := MustClaim(t, s, "k", dedupe.Answered); !SameAnswer(got.Answer, want) {
					t.Fatalf("stored answer %+v, want %+v", got.Answer, want)
				}
			}
		})
	}
}

// completeCases are the cases of Complete: by the holder, late, for a key
// never claimed, again, and with a stale token.
func completeCases(ctx context.Context) []completeCase {
	return []completeCase{
		{"holder completes", func(t *testing.T, a, _ dedupe.Store) *dedupe.Answer {
			c := MustClaim(t, a, "k", dedupe.Claimed)
			MustDo(t, "Complete", a.Complete(ctx, "k", c.Token, AnswerFor("a"), TTL))
			return AnswerFor("a")
		}},
		{"late answer after the claim expired", func(t *testing.T, a, _ dedupe.Store) *dedupe.Answer {
			c := MustClaimTTL(t, a, "k", ShortClaim, dedupe.Claimed)
			expire()
			MustDo(t, "Complete", a.Complete(ctx, "k", c.Token, AnswerFor("a"), TTL))
			return AnswerFor("a")
		}},
		{"late answer after a release", func(t *testing.T, a, _ dedupe.Store) *dedupe.Answer {
			c := MustClaim(t, a, "k", dedupe.Claimed)
			MustDo(t, "Release", a.Release(ctx, "k", c.Token, TTL))
			MustDo(t, "Complete", a.Complete(ctx, "k", c.Token, AnswerFor("a"), TTL))
			return AnswerFor("a")
		}},
		{"answer for a key never claimed", func(t *testing.T, a, _ dedupe.Store) *dedupe.Answer {
			MustDo(t, "Complete", a.Complete(ctx, "k", 0, AnswerFor("a"), TTL))
			return AnswerFor("a")
		}},
		{"never overwrites an answer", func(t *testing.T, a, b dedupe.Store) *dedupe.Answer {
			c := MustClaim(t, a, "k", dedupe.Claimed)
			MustDo(t, "Complete", a.Complete(ctx, "k", c.Token, AnswerFor("a"), TTL))
			MustDo(t, "Complete again", a.Complete(ctx, "k", c.Token, AnswerFor("b"), TTL))
			MustDo(t, "Complete unclaimed", b.Complete(ctx, "k", 0, AnswerFor("c"), TTL))
			return AnswerFor("a")
		}},
		{"stale token completes after a new claim", func(t *testing.T, a, b dedupe.Store) *dedupe.Answer {
			stale := MustClaimTTL(t, a, "k", ShortClaim, dedupe.Claimed)
			expire()
			fresh := MustClaim(t, b, "k", dedupe.Claimed)
			if err := a.Complete(ctx, "k", stale.Token, AnswerFor("stale"), TTL); !errors.Is(err, dedupe.ErrNotHeld) {
				t.Fatalf("stale Complete: %v, want ErrNotHeld", err)
			}
			MustClaim(t, a, "k", dedupe.InFlight)
			MustDo(t, "Complete", b.Complete(ctx, "k", fresh.Token, AnswerFor("fresh"), TTL))
			return AnswerFor("fresh")
		}},
	}
}

// releaseCases are the cases of Release, and of a token that is not the
// holder's or whose claim has ended.
func releaseCases(ctx context.Context) []completeCase {
	return []completeCase{
		{"stale token releases after a new claim", func(t *testing.T, a, b dedupe.Store) *dedupe.Answer {
			stale := MustClaimTTL(t, a, "k", ShortClaim, dedupe.Claimed)
			expire()
			MustClaim(t, b, "k", dedupe.Claimed)
			if err := a.Release(ctx, "k", stale.Token, TTL); !errors.Is(err, dedupe.ErrNotHeld) {
				t.Fatalf("stale Release: %v, want ErrNotHeld", err)
			}
			MustClaim(t, a, "k", dedupe.InFlight)
			return nil
		}},
		{"release with another token", func(t *testing.T, a, b dedupe.Store) *dedupe.Answer {
			c := MustClaim(t, a, "k", dedupe.Claimed)
			if err := b.Release(ctx, "k", c.Token+1, TTL); !errors.Is(err, dedupe.ErrNotHeld) {
				t.Fatalf("Release with another token: %v, want ErrNotHeld", err)
			}
			MustClaim(t, b, "k", dedupe.InFlight)
			return nil
		}},
		{"complete with another token", func(t *testing.T, a, b dedupe.Store) *dedupe.Answer {
			c := MustClaim(t, a, "k", dedupe.Claimed)
			if err := b.Complete(ctx, "k", c.Token+1, AnswerFor("b"), TTL); !errors.Is(err, dedupe.ErrNotHeld) {
				t.Fatalf("Complete with another token: %v, want ErrNotHeld", err)
			}
			MustClaim(t, b, "k", dedupe.InFlight)
			MustDo(t, "Complete", a.Complete(ctx, "k", c.Token, AnswerFor("a"), TTL))
			return AnswerFor("a")
		}},
		{"release after complete", func(t *testing.T, a, _ dedupe.Store) *dedupe.Answer {
			c := MustClaim(t, a, "k", dedupe.Claimed)
			MustDo(t, "Complete", a.Complete(ctx, "k", c.Token, AnswerFor("a"), TTL))
			if err := a.Release(ctx, "k", c.Token, TTL); !errors.Is(err, dedupe.ErrNotHeld) {
				t.Fatalf("Release after Complete: %v, want ErrNotHeld", err)
			}
			return AnswerFor("a")
		}},
		{"release twice", func(t *testing.T, a, b dedupe.Store) *dedupe.Answer {
			c := MustClaim(t, a, "k", dedupe.Claimed)
			MustDo(t, "Release", a.Release(ctx, "k", c.Token, TTL))
			if err := a.Release(ctx, "k", c.Token, TTL); !errors.Is(err, dedupe.ErrNotHeld) {
				t.Fatalf("second Release: %v, want ErrNotHeld", err)
			}
			if again := MustClaim(t, b, "k", dedupe.Claimed); again.Attempt != 2 {
				t.Fatalf("attempt after one release = %d, want 2", again.Attempt)
			}
			return nil
		}},
		{"release of an expired claim", func(t *testing.T, a, b dedupe.Store) *dedupe.Answer {
			c := MustClaimTTL(t, a, "k", ShortClaim, dedupe.Claimed)
			expire()
			if err := a.Release(ctx, "k", c.Token, TTL); !errors.Is(err, dedupe.ErrNotHeld) {
				t.Fatalf("Release of an expired claim: %v, want ErrNotHeld", err)
			}
			if again := MustClaim(t, b, "k", dedupe.Claimed); again.Attempt != 2 {
				t.Fatalf("attempt after an expired claim = %d, want 2", again.Attempt)
			}
			return nil
		}},
	}
}

func expiryAfterTTL(t *testing.T, a, b dedupe.Store) {
	c := MustClaim(t, a, "answered", dedupe.Claimed)
	MustDo(t, "Complete", a.Complete(t.Context(), "answered", c.Token, AnswerFor("a"), ShortTTL))
	c = MustClaim(t, a, "released", dedupe.Claimed)
	MustDo(t, "Release", a.Release(t.Context(), "released", c.Token, ShortTTL))

	MustClaim(t, b, "answered", dedupe.Answered)
	if c := MustClaim(t, b, "released", dedupe.Claimed); c.Attempt != 2 {
		t.Fatalf("attempt within ttl = %d, want 2", c.Attempt)
	} else {
		MustDo(t, "Release", b.Release(t.Context(), "released", c.Token, ShortTTL))
	}

	time.Sleep(ShortTTL + 100*time.Millisecond) // past both ttls: the answer and the count are gone
	if c := MustClaim(t, a, "answered", dedupe.Claimed); c.Attempt != 1 {
		t.Fatalf("attempt after the answer expired = %d, want 1", c.Attempt)
	}
	if c := MustClaim(t, a, "released", dedupe.Claimed); c.Attempt != 1 {
		t.Fatalf("attempt after the count expired = %d, want 1", c.Attempt)
	}
}

// answersReplayExactly stores answers of every shape the encoding keeps and
// replays them at the other instance.
func answersReplayExactly(t *testing.T, a, b dedupe.Store) {
	answers := map[string]*dedupe.Answer{
		"bare":         {Status: 204},
		"multi-valued": {Status: 200, Header: http.Header{"Set-Cookie": {"a=1", "b=2"}, "Vary": {"Origin", "Accept-Encoding"}}},
		"empty value":  {Status: 200, Header: http.Header{"X-Empty": {""}}},
		"binary body":  {Status: 400, Body: []byte{0, 1, 2, 0xff, '\r', '\n'}},
		"large body":   {Status: 502, Body: bytes.Repeat([]byte("x"), 70000)},
		"status 999":   {Status: 999},
	}
	for key, ans := range answers {
		c := MustClaim(t, a, key, dedupe.Claimed)
		MustDo(t, "Complete "+key, a.Complete(t.Context(), key, c.Token, ans, TTL))
	}
	for key, ans := range answers {
		if got := MustClaim(t, b, key, dedupe.Answered); !SameAnswer(got.Answer, ans) {
			t.Errorf("%s: replayed %+v, want %+v", key, got.Answer, ans)
		}
	}
}

// keysAreOpaque: keys that look like another store's syntax (a Redis hash
// tag, a separator, a prefix of another key) are keys like any other.
func keysAreOpaque(t *testing.T, a, b dedupe.Store) {
	keys := []string{"k", "k{", "k{x}", "{k}", "k}", "k:n", "kn", "k n", "k\x00", "ключ", strings.Repeat("k", 300)}
	for _, key := range keys {
		c := MustClaim(t, a, key, dedupe.Claimed)
		MustDo(t, "Complete "+key, a.Complete(t.Context(), key, c.Token, AnswerFor(key), TTL))
	}
	for _, key := range keys {
		if got := MustClaim(t, b, key, dedupe.Answered); !SameAnswer(got.Answer, AnswerFor(key)) {
			t.Errorf("%q: replayed %+v, the answer of another key", key, got.Answer)
		}
	}
}

func hugeTTLs(t *testing.T, a, b dedupe.Store) {
	forever := time.Duration(math.MaxInt64)
	c := MustClaimTTL(t, a, "k", forever, dedupe.Claimed)
	MustClaim(t, b, "k", dedupe.InFlight)
	MustDo(t, "Complete", a.Complete(t.Context(), "k", c.Token, AnswerFor("k"), forever))
	MustClaim(t, b, "k", dedupe.Answered)
	c = MustClaim(t, a, "released", dedupe.Claimed)
	MustDo(t, "Release", a.Release(t.Context(), "released", c.Token, forever))
	if c := MustClaim(t, b, "released", dedupe.Claimed); c.Attempt != 2 {
		t.Fatalf("attempt after a release kept forever = %d, want 2", c.Attempt)
	}
}

func invalidArguments(t *testing.T, a, _ dedupe.Store) {
	ctx := t.Context()
	for name, err := range map[string]error{
		"claim ttl 0":        func() error { _, err := a.Claim(ctx, "k", 0); return err }(),
		"complete ttl 0":     a.Complete(ctx, "k", 1, AnswerFor("k"), 0),
		"complete nil":       a.Complete(ctx, "k", 1, nil, TTL),
		"complete status 0":  a.Complete(ctx, "k", 1, &dedupe.Answer{}, TTL),
		"complete status 99": a.Complete(ctx, "k", 1, &dedupe.Answer{Status: 99}, TTL),
		"release ttl -1ns":   a.Release(ctx, "k", 1, -1),
	} {
		if err == nil || errors.Is(err, dedupe.ErrNotHeld) {
			t.Errorf("%s: %v, want an argument error", name, err)
		}
	}
	MustClaim(t, a, "k", dedupe.Claimed) // nothing was stored
	if k := a.Kind(); k != "memory" && k != "redis" {
		t.Errorf("Kind = %q", k)
	}
}
