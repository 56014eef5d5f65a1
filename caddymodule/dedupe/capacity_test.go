package dedupe

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// TestCapacityEvictsOldestFirst fills a small store far beyond MaxBytes.
// Eviction is per shard and whole chunks at a time, so "oldest first" holds
// exactly within a shard: once a key is gone, every key written to its shard
// before it is gone too.
func TestCapacityEvictsOldestFirst(t *testing.T) {
	const maxBytes = 1 << 20
	const n = 30000
	m := newTestMemory(t, MemoryOptions{MaxBytes: maxBytes})
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprint("provider:key-", i)
		c := mustClaim(t, m, keys[i], Claimed)
		mustDo(t, "Complete", m.Complete(t.Context(), keys[i], c.Token, answerFor(keys[i]), ttl))
	}
	checkBudget(t, m, maxBytes)
	if l := m.Len(); l >= n/2 || l == 0 {
		t.Fatalf("Len = %d after writing %d answers into %d bytes", l, n, maxBytes)
	}
	checkOldestGone(t, m, keys)
	for _, key := range keys[:1000] {
		if stored(m, key) {
			t.Fatalf("%s, among the first keys written, survived", key)
		}
	}
	for _, key := range keys[n-500:] {
		if !stored(m, key) {
			t.Fatalf("%s, among the last keys written, was evicted", key)
		}
	}

	before := m.Len()
	m.SetMaxBytes(maxBytes / 4)
	checkBudget(t, m, maxBytes/4)
	if after := m.Len(); after >= before*2/3 {
		t.Fatalf("SetMaxBytes to a quarter kept %d of %d entries", after, before)
	}
	checkOldestGone(t, m, keys)
}

// stored reports whether key has an answer, without claiming it.
func stored(m *Memory, key string) bool {
	d := digestOf(key)
	s := m.shardOf(d)
	s.mu.Lock()
	defer s.mu.Unlock()
	r, _, found := s.current(d)
	return found && r.answer
}

func checkBudget(t *testing.T, m *Memory, maxBytes int64) {
	t.Helper()
	var used int64
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		u := s.used()
		s.mu.Unlock()
		if u > maxBytes/numShards {
			t.Fatalf("shard %d uses %d bytes, over its %d", i, u, maxBytes/numShards)
		}
		used += u
	}
	if used > maxBytes {
		t.Fatalf("%d bytes used, over %d", used, maxBytes)
	}
}

func checkOldestGone(t *testing.T, m *Memory, keys []string) {
	t.Helper()
	var kept [numShards]bool // a later key of the shard was seen kept
	for i := len(keys) - 1; i >= 0; i-- {
		sh := digestOf(keys[i])[0]
		switch ok := stored(m, keys[i]); {
		case ok && !kept[sh] && i < len(keys)-1 && anyLater(keys[i+1:], sh):
			t.Fatalf("%s is kept, but a later key of its shard was evicted", keys[i])
		case ok:
			kept[sh] = true
		}
	}
}

// anyLater reports whether keys holds a key of shard sh.
func anyLater(keys []string, sh byte) bool {
	for _, k := range keys {
		if digestOf(k)[0] == sh {
			return true
		}
	}
	return false
}

// TestConcurrentMixedUse runs every operation at once on a small key set in
// a small store, so that claims, answers, releases, expiries and evictions
// interleave: with -race it checks the locking, and the arena walk checks
// that the records stay consistent.
func TestConcurrentMixedUse(t *testing.T) {
	m := newTestMemory(t, MemoryOptions{MaxBytes: 256 << 10})
	const workers, opsEach, keys = 8, 3000, 64
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for range opsEach {
				key := fmt.Sprint("k", rng.IntN(keys))
				c, err := m.Claim(ctx, key, time.Duration(1+rng.IntN(3))*time.Millisecond)
				if err != nil {
					t.Error(err)
					return
				}
				switch c.State {
				case Claimed:
					switch rng.IntN(3) {
					case 0:
						_ = m.Complete(ctx, key, c.Token, answerFor(key), time.Duration(1+rng.IntN(20))*time.Millisecond)
					case 1:
						_ = m.Release(ctx, key, c.Token, time.Second)
					}
				case Answered:
					if !sameAnswer(c.Answer, answerFor(key)) {
						t.Errorf("%s replayed %+v", key, c.Answer)
						return
					}
				case InFlight:
					wctx, cancel := context.WithTimeout(ctx, time.Duration(rng.IntN(2))*time.Millisecond)
					_ = m.Wait(wctx, key)
					cancel()
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			m.sweep()
			m.SetMaxBytes(int64(64+rand.IntN(512)) << 10)
			time.Sleep(time.Millisecond)
		}
	})
	wg.Wait()
	for i := range m.shards {
		s := &m.shards[i]
		for len(s.chunks) > 0 {
			s.dropOldest() // walks every record
		}
		if s.idx.count != 0 {
			t.Fatalf("shard %d: %d index entries point outside the arena", i, s.idx.count)
		}
	}
}

// TestSizeBoundIsHard: the store never holds more than MaxBytes, however
// large the answers. An answer larger than a shard's share is not stored:
// Complete says so, and the key is released with its attempt count.
func TestSizeBoundIsHard(t *testing.T) {
	tests := []struct {
		name     string
		maxBytes int64
		bodySize int
		stored   bool
	}{
		{"1 MB answers in a 1 MiB store", 1 << 20, 1_000_000, false},
		{"answers of a third of a share", 256 * 64 << 10, 20 << 10, true},
		{"answers just over a share", 256 * 64 << 10, 64 << 10, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newTestMemory(t, MemoryOptions{MaxBytes: tt.maxBytes})
			body := make([]byte, tt.bodySize)
			for i := range 36 {
				key := fmt.Sprint("big-", i)
				c := mustClaim(t, m, key, Claimed)
				err := m.Complete(t.Context(), key, c.Token, &Answer{Status: 200, Body: body}, ttl)
				checkBudget(t, m, tt.maxBytes)
				if tt.stored {
					mustDo(t, "Complete", err)
					mustClaim(t, m, key, Answered)
					continue
				}
				if !errors.Is(err, ErrTooLarge) {
					t.Fatalf("Complete of a %d-byte answer: %v, want ErrTooLarge", tt.bodySize, err)
				}
				if again := mustClaim(t, m, key, Claimed); again.Attempt != 2 {
					t.Fatalf("the key was not released as after a failed forward: attempt %d", again.Attempt)
				}
			}
		})
	}
}
