package dedupe

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable clock for MemoryOptions.Now.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func newTestMemory(t testing.TB, opts MemoryOptions) *Memory {
	m := NewMemory(opts)
	t.Cleanup(m.Close)
	return m
}

func answerFor(key string) *Answer {
	return &Answer{
		Status: 200,
		Header: http.Header{"Content-Type": {"application/json"}, "Location": {"/orders/" + key}},
		Body:   []byte(`{"received":"` + key + `"}`),
	}
}

const (
	claimTTL = time.Minute
	ttl      = time.Hour
)

func mustClaim(t *testing.T, m *Memory, key string, want State) Claim {
	t.Helper()
	c, err := m.Claim(t.Context(), key, claimTTL)
	if err != nil {
		t.Fatalf("Claim(%q): %v", key, err)
	}
	if c.State != want {
		t.Fatalf("Claim(%q) = %v, want %v", key, c.State, want)
	}
	switch c.State {
	case Claimed:
		if c.Token == 0 || c.Attempt < 1 || c.Answer != nil {
			t.Fatalf("Claim(%q) = %+v: a claim needs a token and an attempt", key, c)
		}
	case Answered:
		if c.Answer == nil || c.Token != 0 {
			t.Fatalf("Claim(%q) = %+v: an answered claim carries the answer only", key, c)
		}
	case InFlight:
		if c.Token != 0 || c.Answer != nil {
			t.Fatalf("Claim(%q) = %+v: an in-flight claim carries nothing", key, c)
		}
	}
	return c
}

func mustDo(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func TestFirstClaimWins(t *testing.T) {
	m := newTestMemory(t, MemoryOptions{})
	first := mustClaim(t, m, "k", Claimed)
	if first.Attempt != 1 {
		t.Fatalf("first claim attempt = %d, want 1", first.Attempt)
	}
	mustClaim(t, m, "k", InFlight)
	mustClaim(t, m, "other", Claimed)
	mustDo(t, "Complete", m.Complete(t.Context(), "k", first.Token, answerFor("k"), ttl))
	if got := mustClaim(t, m, "k", Answered); !sameAnswer(got.Answer, answerFor("k")) {
		t.Fatalf("replayed %+v", got.Answer)
	}
}

func TestTokensAreRandomAndNonZero(t *testing.T) {
	m := newTestMemory(t, MemoryOptions{})
	seen := map[uint64]bool{}
	for i := range 1000 {
		c := mustClaim(t, m, fmt.Sprint("k", i), Claimed)
		if seen[c.Token] {
			t.Fatalf("token %d drawn twice", c.Token)
		}
		seen[c.Token] = true
	}
}

func TestAttemptsCount(t *testing.T) {
	clock := newFakeClock()
	m := newTestMemory(t, MemoryOptions{Now: clock.Now})
	steps := []struct {
		name        string
		end         func(c Claim) error // ends the claim, or nil to abandon it
		wantAttempt int
	}{
		{"first claim", nil, 1},
		{"after a release", func(c Claim) error { return m.Release(t.Context(), "k", c.Token, ttl) }, 2},
		{"after two releases", func(c Claim) error { return m.Release(t.Context(), "k", c.Token, ttl) }, 3},
		{"after an abandoned claim", func(c Claim) error { clock.Advance(claimTTL); return nil }, 4},
	}
	var prev Claim
	for _, step := range steps {
		if step.end != nil {
			mustDo(t, step.name, step.end(prev))
		}
		prev = mustClaim(t, m, "k", Claimed)
		if prev.Attempt != step.wantAttempt {
			t.Fatalf("%s: attempt %d, want %d", step.name, prev.Attempt, step.wantAttempt)
		}
		mustClaim(t, m, "k", InFlight)
	}
	mustDo(t, "Complete", m.Complete(t.Context(), "k", prev.Token, answerFor("k"), ttl))
	mustClaim(t, m, "k", Answered)
}

func TestCompleteAndRelease(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		// run does the steps and returns the key's expected answer (nil:
		// none stored).
		run func(t *testing.T, m *Memory, clock *fakeClock) *Answer
	}{
		{"holder completes", func(t *testing.T, m *Memory, _ *fakeClock) *Answer {
			c := mustClaim(t, m, "k", Claimed)
			mustDo(t, "Complete", m.Complete(ctx, "k", c.Token, answerFor("a"), ttl))
			return answerFor("a")
		}},
		{"late answer after the claim expired", func(t *testing.T, m *Memory, clock *fakeClock) *Answer {
			c := mustClaim(t, m, "k", Claimed)
			clock.Advance(claimTTL + time.Second)
			mustDo(t, "Complete", m.Complete(ctx, "k", c.Token, answerFor("a"), ttl))
			return answerFor("a")
		}},
		{"late answer after a release", func(t *testing.T, m *Memory, _ *fakeClock) *Answer {
			c := mustClaim(t, m, "k", Claimed)
			mustDo(t, "Release", m.Release(ctx, "k", c.Token, ttl))
			mustDo(t, "Complete", m.Complete(ctx, "k", c.Token, answerFor("a"), ttl))
			return answerFor("a")
		}},
		{"answer for a key never claimed", func(t *testing.T, m *Memory, _ *fakeClock) *Answer {
			mustDo(t, "Complete", m.Complete(ctx, "k", 0, answerFor("a"), ttl))
			return answerFor("a")
		}},
		{"never overwrites an answer", func(t *testing.T, m *Memory, _ *fakeClock) *Answer {
			c := mustClaim(t, m, "k", Claimed)
			mustDo(t, "Complete", m.Complete(ctx, "k", c.Token, answerFor("a"), ttl))
			mustDo(t, "Complete again", m.Complete(ctx, "k", c.Token, answerFor("b"), ttl))
			mustDo(t, "Complete unclaimed", m.Complete(ctx, "k", 0, answerFor("c"), ttl))
			return answerFor("a")
		}},
		{"stale token completes after a new claim", func(t *testing.T, m *Memory, clock *fakeClock) *Answer {
			stale := mustClaim(t, m, "k", Claimed)
			clock.Advance(claimTTL)
			fresh := mustClaim(t, m, "k", Claimed)
			if err := m.Complete(ctx, "k", stale.Token, answerFor("stale"), ttl); !errors.Is(err, ErrNotHeld) {
				t.Fatalf("stale Complete: %v, want ErrNotHeld", err)
			}
			mustClaim(t, m, "k", InFlight)
			mustDo(t, "Complete", m.Complete(ctx, "k", fresh.Token, answerFor("fresh"), ttl))
			return answerFor("fresh")
		}},
		{"stale token releases after a new claim", func(t *testing.T, m *Memory, clock *fakeClock) *Answer {
			stale := mustClaim(t, m, "k", Claimed)
			clock.Advance(claimTTL)
			mustClaim(t, m, "k", Claimed)
			if err := m.Release(ctx, "k", stale.Token, ttl); !errors.Is(err, ErrNotHeld) {
				t.Fatalf("stale Release: %v, want ErrNotHeld", err)
			}
			mustClaim(t, m, "k", InFlight)
			return nil
		}},
		{"release with another token", func(t *testing.T, m *Memory, _ *fakeClock) *Answer {
			c := mustClaim(t, m, "k", Claimed)
			if err := m.Release(ctx, "k", c.Token+1, ttl); !errors.Is(err, ErrNotHeld) {
				t.Fatalf("Release with another token: %v, want ErrNotHeld", err)
			}
			mustClaim(t, m, "k", InFlight)
			return nil
		}},
		{"release after complete", func(t *testing.T, m *Memory, _ *fakeClock) *Answer {
			c := mustClaim(t, m, "k", Claimed)
			mustDo(t, "Complete", m.Complete(ctx, "k", c.Token, answerFor("a"), ttl))
			if err := m.Release(ctx, "k", c.Token, ttl); !errors.Is(err, ErrNotHeld) {
				t.Fatalf("Release after Complete: %v, want ErrNotHeld", err)
			}
			return answerFor("a")
		}},
		{"release twice", func(t *testing.T, m *Memory, _ *fakeClock) *Answer {
			c := mustClaim(t, m, "k", Claimed)
			mustDo(t, "Release", m.Release(ctx, "k", c.Token, ttl))
			if err := m.Release(ctx, "k", c.Token, ttl); !errors.Is(err, ErrNotHeld) {
				t.Fatalf("second Release: %v, want ErrNotHeld", err)
			}
			if again := mustClaim(t, m, "k", Claimed); again.Attempt != 2 {
				t.Fatalf("attempt after one release = %d, want 2", again.Attempt)
			}
			return nil
		}},
		{"release of an expired claim", func(t *testing.T, m *Memory, clock *fakeClock) *Answer {
			c := mustClaim(t, m, "k", Claimed)
			clock.Advance(claimTTL)
			if err := m.Release(ctx, "k", c.Token, ttl); !errors.Is(err, ErrNotHeld) {
				t.Fatalf("Release of an expired claim: %v, want ErrNotHeld", err)
			}
			if again := mustClaim(t, m, "k", Claimed); again.Attempt != 2 {
				t.Fatalf("attempt after an expired claim = %d, want 2", again.Attempt)
			}
			return nil
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			m := newTestMemory(t, MemoryOptions{Now: clock.Now})
			want := tc.run(t, m, clock)
			if want == nil {
				return
			}
			if got := mustClaim(t, m, "k", Answered); !sameAnswer(got.Answer, want) {
				t.Fatalf("stored answer %+v, want %+v", got.Answer, want)
			}
		})
	}
}

func TestExpiryAfterTTL(t *testing.T) {
	clock := newFakeClock()
	m := newTestMemory(t, MemoryOptions{Now: clock.Now})
	c := mustClaim(t, m, "answered", Claimed)
	mustDo(t, "Complete", m.Complete(t.Context(), "answered", c.Token, answerFor("a"), ttl))
	c = mustClaim(t, m, "released", Claimed)
	mustDo(t, "Release", m.Release(t.Context(), "released", c.Token, ttl))

	clock.Advance(ttl - time.Second)
	mustClaim(t, m, "answered", Answered)
	if c := mustClaim(t, m, "released", Claimed); c.Attempt != 2 {
		t.Fatalf("attempt within ttl = %d, want 2", c.Attempt)
	} else {
		mustDo(t, "Release", m.Release(t.Context(), "released", c.Token, ttl))
	}

	clock.Advance(ttl) // past both ttls: the answer and the count are gone
	if c := mustClaim(t, m, "answered", Claimed); c.Attempt != 1 {
		t.Fatalf("attempt after the answer expired = %d, want 1", c.Attempt)
	}
	if c := mustClaim(t, m, "released", Claimed); c.Attempt != 1 {
		t.Fatalf("attempt after the count expired = %d, want 1", c.Attempt)
	}
}

func TestSweepReclaimsExpired(t *testing.T) {
	clock := newFakeClock()
	m := newTestMemory(t, MemoryOptions{Now: clock.Now})
	for i := range 5000 {
		key := fmt.Sprint("k", i)
		c := mustClaim(t, m, key, Claimed)
		mustDo(t, "Complete", m.Complete(t.Context(), key, c.Token, answerFor(key), ttl))
	}
	abandoned := mustClaim(t, m, "abandoned", Claimed)
	if m.Len() != 5000 {
		t.Fatalf("Len = %d, want 5000", m.Len())
	}
	clock.Advance(ttl)
	m.sweep()
	// Only the abandoned claim's attempt count is left (kept for a day), and
	// the chunk it was written to, with the expired answers that share it.
	keep := digestOf("abandoned")[0]
	for i := range m.shards {
		s := &m.shards[i]
		if len(s.flights) != 0 {
			t.Fatal("the sweep left an expired claim")
		}
		if i == int(keep) {
			if _, _, ok := s.current(digestOf("abandoned")); !ok || len(s.chunks) != 1 {
				t.Fatalf("shard of the abandoned claim: count kept %v, %d chunks", ok, len(s.chunks))
			}
			continue
		}
		if s.idx.count != 0 || s.arenaBytes != 0 || s.idx.bytes() > 8*minIndexSlots {
			t.Fatalf("shard %d keeps %d entries, %d arena and %d index bytes after they expired",
				i, s.idx.count, s.arenaBytes, s.idx.bytes())
		}
	}
	if c := mustClaim(t, m, "abandoned", Claimed); c.Attempt != abandoned.Attempt+1 {
		t.Fatalf("attempt after an abandoned claim = %d, want %d", c.Attempt, abandoned.Attempt+1)
	}
}

func TestInvalidArguments(t *testing.T) {
	m := newTestMemory(t, MemoryOptions{})
	ctx := t.Context()
	for name, err := range map[string]error{
		"claim ttl 0":       func() error { _, err := m.Claim(ctx, "k", 0); return err }(),
		"complete ttl 0":    m.Complete(ctx, "k", 1, answerFor("k"), 0),
		"complete nil":      m.Complete(ctx, "k", 1, nil, ttl),
		"complete status 0": m.Complete(ctx, "k", 1, &Answer{}, ttl),
		"release ttl -1ns":  m.Release(ctx, "k", 1, -1),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if m.Kind() != "memory" {
		t.Errorf("Kind = %q", m.Kind())
	}
}

func TestHugeTTLsSaturate(t *testing.T) {
	clock := newFakeClock()
	m := newTestMemory(t, MemoryOptions{Now: clock.Now})
	forever := time.Duration(math.MaxInt64)
	c, err := m.Claim(t.Context(), "k", forever)
	if err != nil || c.State != Claimed {
		t.Fatalf("Claim: %v %v", c.State, err)
	}
	clock.Advance(100 * 365 * 24 * time.Hour)
	mustClaim(t, m, "k", InFlight) // an overflow would have expired it
	mustDo(t, "Complete", m.Complete(t.Context(), "k", c.Token, answerFor("k"), forever))
	clock.Advance(100 * 365 * 24 * time.Hour)
	mustClaim(t, m, "k", Answered)
}
