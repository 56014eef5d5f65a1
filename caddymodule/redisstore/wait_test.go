package redisstore

import (
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/caddymodule/dedupe"
	"github.com/callbackguard/callbackguard/caddymodule/dedupe/storetest"
	"github.com/callbackguard/callbackguard/internal/redistest"
)

// TestWaitWakesEachWay runs the suite's Wait cases, the claim held at one
// instance and the wait at another, once per way a wait wakes: by Pub/Sub
// alone (polling an hour apart), and by polling alone (no subscriber).
func TestWaitWakesEachWay(t *testing.T) {
	srv := redistest.Start(t)
	t.Run("pubsub", func(t *testing.T) {
		storetest.RunWait(t, func(t *testing.T) (a, b dedupe.Store) {
			holder, waiter := pair(t, srv, Options{PollInterval: time.Hour})
			waitSubscribed(t, 1, holder, waiter)
			return holder, waiter
		})
	})
	t.Run("polling", func(t *testing.T) {
		storetest.RunWait(t, func(t *testing.T) (a, b dedupe.Store) {
			holder, waiter := pair(t, srv, Options{PollInterval: 20 * time.Millisecond})
			waiter.stopSubscriber()
			return holder, waiter
		})
	})
}

// TestManyWaitersOneSubscription: waits on many keys share the Store's one
// subscription; each wakes on its own key's answer only, and leaves no
// local waiter behind.
func TestManyWaitersOneSubscription(t *testing.T) {
	srv := redistest.Start(t)
	a, b := pair(t, srv, Options{PollInterval: time.Hour})
	waitSubscribed(t, 1, a, b)
	const keys = 20
	claims := make([]dedupe.Claim, keys)
	done := make([]chan error, keys)
	for i := range keys {
		key := string(rune('a' + i))
		claims[i] = mustClaim(t, a, key, dedupe.Claimed)
		done[i] = make(chan error, 3)
		for range 3 {
			go func() { done[i] <- b.Wait(t.Context(), key) }()
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.waiters.waiting() < keys && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let every wait mark its claim
	subs := do(t, srv, "PUBSUB", "NUMSUB", a.channel).([]any)
	if len(subs) != 2 || subs[1] != int64(2) { // one per Store
		t.Fatalf("subscriptions for %d waits: %v", 3*keys, subs)
	}
	for i := range keys {
		key := string(rune('a' + i))
		mustDo(t, "Complete", a.Complete(t.Context(), key, claims[i].Token, answerFor(key), ttl))
		for range 3 {
			select {
			case err := <-done[i]:
				mustDo(t, "Wait", err)
			case <-time.After(2 * time.Second):
				t.Fatalf("a wait on %q did not wake", key)
			}
		}
		for j := i + 1; j < keys; j++ {
			select {
			case err := <-done[j]:
				t.Fatalf("a wait on key %d woke on the answer of key %d: %v", j, i, err)
			default:
			}
		}
	}
	if n := b.waiters.waiting(); n != 0 {
		t.Fatalf("%d keys still have local waiters", n)
	}
}

// TestClose ends the subscription and the client: later calls fail.
func TestClose(t *testing.T) {
	srv := redistest.Start(t)
	s := newInstance(t, srv.URL(0), Options{})
	waitSubscribed(t, 1, s)
	mustClaim(t, s, "k", dedupe.Claimed)
	s.Close()
	s.Close() // again: no effect
	deadline := time.Now().Add(5 * time.Second)
	for {
		subs := do(t, srv, "PUBSUB", "NUMSUB", s.channel).([]any)
		if subs[1] == int64(0) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the subscription outlived Close")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := s.Claim(t.Context(), "k", claimTTL); err == nil {
		t.Fatal("Claim after Close: no error")
	}
}

// TestResubscriptionWakesWaits: wake-ups published while the subscriber's
// connection is down are lost; when it resubscribes, the waits look at
// their keys again at once instead of at the next poll.
func TestResubscriptionWakesWaits(t *testing.T) {
	srv := redistest.Start(t)
	a, b := pair(t, srv, Options{PollInterval: time.Hour})
	waitSubscribed(t, 1, b)
	mustClaim(t, a, "k", dedupe.Claimed)
	done := make(chan error, 1)
	go func() { done <- b.Wait(t.Context(), "k") }()
	for b.waiters.waiting() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)

	// The answer arrives without a wake-up (as if it was published while
	// b's subscriber was away), then every connection is lost.
	do(t, srv, "SET", a.prefix+"{k}", "a"+string(dedupe.EncodeAnswer(nil, answerFor("k"))))
	select {
	case err := <-done:
		t.Fatalf("Wait returned before the resubscription: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	do(t, srv, "CLIENT", "KILL", "TYPE", "normal")
	do(t, srv, "CLIENT", "KILL", "TYPE", "pubsub")
	select {
	case err := <-done:
		mustDo(t, "Wait", err)
	case <-time.After(5 * time.Second):
		t.Fatal("the wait did not look again after the resubscription")
	}
	if n := b.subscriptions.Load(); n < 2 {
		t.Fatalf("%d subscriptions, want a resubscription", n)
	}
	mustClaim(t, b, "k", dedupe.Answered)
}
