package dedupe

import (
	"context"
	"fmt"
	"testing"
	"time"
)

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
