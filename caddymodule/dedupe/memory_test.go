package dedupe

import (
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
