package dedupe

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestConcurrentClaimsOfOneKey(t *testing.T) {
	m := newTestMemory(t, MemoryOptions{})
	const n = 100
	var (
		start, claimed sync.WaitGroup
		results        [n]Claim
		errs           [n]error
	)
	start.Add(1)
	claimed.Add(n)
	for i := range n {
		go func() {
			start.Wait()
			results[i], errs[i] = m.Claim(context.Background(), "k", claimTTL)
			claimed.Done()
		}()
	}
	start.Done()
	claimed.Wait()

	winner := -1
	for i, c := range results {
		mustDo(t, "Claim", errs[i])
		switch c.State {
		case Claimed:
			if winner >= 0 {
				t.Fatalf("claims %d and %d both won", winner, i)
			}
			winner = i
		case InFlight:
		default:
			t.Fatalf("claim %d: %v", i, c.State)
		}
	}
	if winner < 0 {
		t.Fatal("no claim won")
	}

	// The losers wait, then claim again: all of them replay the answer.
	var replays sync.WaitGroup
	replayed := make(chan *Answer, n)
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
			if err := m.Wait(ctx, "k"); err != nil {
				failures <- err
				return
			}
			c, err := m.Claim(ctx, "k", claimTTL)
			if err != nil || c.State != Answered {
				failures <- fmt.Errorf("claim after wait: %v %v", c.State, err)
				return
			}
			replayed <- c.Answer
		}()
	}
	time.Sleep(10 * time.Millisecond) // let some of them block in Wait
	mustDo(t, "Complete", m.Complete(t.Context(), "k", results[winner].Token, answerFor("k"), ttl))
	replays.Wait()
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

// sameShardKey returns a key other than key that lands in key's shard.
func sameShardKey(key string) string {
	for i := 0; ; i++ {
		other := fmt.Sprint("other-", i)
		if digestOf(other)[0] == digestOf(key)[0] {
			return other
		}
	}
}

func TestHeldKeyDoesNotBlockItsShard(t *testing.T) {
	m := newTestMemory(t, MemoryOptions{})
	held := mustClaim(t, m, "held", Claimed)
	waiting := make(chan error, 10)
	for range cap(waiting) {
		go func() { waiting <- m.Wait(context.Background(), "held") }()
	}
	time.Sleep(10 * time.Millisecond)

	other := sameShardKey("held")
	began := time.Now()
	c := mustClaim(t, m, other, Claimed)
	mustDo(t, "Complete", m.Complete(t.Context(), other, c.Token, answerFor(other), ttl))
	mustClaim(t, m, other, Answered)
	mustDo(t, "Wait", m.Wait(t.Context(), other))
	if took := time.Since(began); took > 500*time.Millisecond {
		t.Fatalf("using a key in the held key's shard took %v", took)
	}
	select {
	case err := <-waiting:
		t.Fatalf("a waiter on the held key returned early: %v", err)
	default:
	}

	mustDo(t, "Release", m.Release(t.Context(), "held", held.Token, ttl))
	for range cap(waiting) {
		select {
		case err := <-waiting:
			mustDo(t, "Wait", err)
		case <-time.After(5 * time.Second):
			t.Fatal("a waiter did not wake on Release")
		}
	}
}

func TestWait(t *testing.T) {
	cases := []struct {
		name     string
		claimTTL time.Duration
		// end makes the wait end; it runs while Wait is blocked.
		end     func(m *Memory, c Claim, cancel context.CancelFunc)
		wantErr error
	}{
		{"release", time.Minute, func(m *Memory, c Claim, _ context.CancelFunc) {
			_ = m.Release(context.Background(), "k", c.Token, ttl)
		}, nil},
		{"complete", time.Minute, func(m *Memory, c Claim, _ context.CancelFunc) {
			_ = m.Complete(context.Background(), "k", c.Token, answerFor("k"), ttl)
		}, nil},
		{"claim expiry", 300 * time.Millisecond, func(*Memory, Claim, context.CancelFunc) {}, nil},
		{"cancel", time.Minute, func(_ *Memory, _ Claim, cancel context.CancelFunc) { cancel() }, context.Canceled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestMemory(t, MemoryOptions{})
			c, err := m.Claim(t.Context(), "k", tc.claimTTL)
			if err != nil || c.State != Claimed {
				t.Fatalf("Claim: %v %v", c.State, err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- m.Wait(ctx, "k") }()
			select {
			case err := <-done:
				t.Fatalf("Wait returned while the key was held: %v", err)
			case <-time.After(30 * time.Millisecond):
			}
			tc.end(m, c, cancel)
			select {
			case err := <-done:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Wait: %v, want %v", err, tc.wantErr)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Wait did not return")
			}
		})
	}
}

func TestWaitReturnsAtOnceWhenNotHeld(t *testing.T) {
	clock := newFakeClock()
	m := newTestMemory(t, MemoryOptions{Now: clock.Now})
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	mustDo(t, "Wait on an unknown key", m.Wait(canceled, "unknown"))

	c := mustClaim(t, m, "answered", Claimed)
	mustDo(t, "Complete", m.Complete(t.Context(), "answered", c.Token, answerFor("a"), ttl))
	mustDo(t, "Wait on an answered key", m.Wait(canceled, "answered"))

	mustClaim(t, m, "expired", Claimed)
	clock.Advance(claimTTL)
	mustDo(t, "Wait on an expired claim", m.Wait(canceled, "expired"))

	mustClaim(t, m, "held", Claimed)
	if err := m.Wait(canceled, "held"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait on a held key with a canceled ctx: %v", err)
	}
}
