package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/caddymodule/dedupe"
	"github.com/callbackguard/callbackguard/internal/redistest"
)

// TestWait runs the memory store's Wait cases with the claim held at one
// instance and the wait at another, twice: woken by Pub/Sub alone (polling
// an hour apart), and by polling alone (the subscriber stopped).
func TestWait(t *testing.T) {
	cases := []struct {
		name     string
		claimTTL time.Duration
		// end makes the wait end; it runs while Wait is blocked.
		end     func(holder instance, c dedupe.Claim, cancel context.CancelFunc)
		wantErr error
	}{
		{"release", time.Minute, func(h instance, c dedupe.Claim, _ context.CancelFunc) {
			_ = h.Release(context.Background(), "k", c.Token, ttl)
		}, nil},
		{"complete", time.Minute, func(h instance, c dedupe.Claim, _ context.CancelFunc) {
			_ = h.Complete(context.Background(), "k", c.Token, answerFor("k"), ttl)
		}, nil},
		{"claim expiry", 80 * time.Millisecond, func(instance, dedupe.Claim, context.CancelFunc) {}, nil},
		{"cancel", time.Minute, func(_ instance, _ dedupe.Claim, cancel context.CancelFunc) { cancel() }, context.Canceled},
	}
	modes := []struct {
		name           string
		poll           time.Duration
		noSubscriber   bool
		wakeUpWithin   time.Duration // after end, for the cases that end by an action
		expiryLateness time.Duration
	}{
		{"pubsub", time.Hour, false, 500 * time.Millisecond, 100 * time.Millisecond},
		{"polling", 20 * time.Millisecond, true, 500 * time.Millisecond, 100 * time.Millisecond},
	}
	srv := redistest.Start(t)
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					holder := newInstance(t, srv, Options{})
					waiter := newInstance(t, srv, Options{Prefix: holder.prefix, PollInterval: mode.poll})
					if mode.noSubscriber {
						waiter.Close()
					} else {
						waitSubscribed(t, 1, holder.Store, waiter.Store)
					}
					c := mustClaimTTL(t, holder, "k", tc.claimTTL, dedupe.Claimed)
					claimed := time.Now()
					ctx, cancel := context.WithCancel(t.Context())
					defer cancel()
					done := make(chan error, 1)
					go func() { done <- waiter.Wait(ctx, "k") }()
					select {
					case err := <-done:
						t.Fatalf("Wait returned while the key was held: %v", err)
					case <-time.After(40 * time.Millisecond):
					}
					ended := time.Now()
					tc.end(holder, c, cancel)
					select {
					case err := <-done:
						if !errors.Is(err, tc.wantErr) {
							t.Fatalf("Wait: %v, want %v", err, tc.wantErr)
						}
						if tc.name == "claim expiry" {
							if late := time.Since(claimed) - tc.claimTTL; late > mode.expiryLateness {
								t.Fatalf("Wait ended %v after the claim expired", late)
							}
						} else if took := time.Since(ended); took > mode.wakeUpWithin {
							t.Fatalf("Wait ended %v after the %s", took, tc.name)
						}
					case <-time.After(5 * time.Second):
						t.Fatal("Wait did not return")
					}
				})
			}
		})
	}
}

func TestWaitReturnsAtOnceWhenNotHeld(t *testing.T) {
	srv := redistest.Start(t)
	s := newInstance(t, srv, Options{})
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	mustDo(t, "Wait on an unknown key", s.Wait(canceled, "unknown"))

	c := mustClaim(t, s, "answered", dedupe.Claimed)
	mustDo(t, "Complete", s.Complete(t.Context(), "answered", c.Token, answerFor("a"), ttl))
	mustDo(t, "Wait on an answered key", s.Wait(canceled, "answered"))

	c = mustClaim(t, s, "released", dedupe.Claimed)
	mustDo(t, "Release", s.Release(t.Context(), "released", c.Token, ttl))
	mustDo(t, "Wait on a released key", s.Wait(canceled, "released"))

	mustClaimTTL(t, s, "expired", 30*time.Millisecond, dedupe.Claimed)
	time.Sleep(50 * time.Millisecond)
	mustDo(t, "Wait on an expired claim", s.Wait(canceled, "expired"))

	mustClaim(t, s, "held", dedupe.Claimed)
	if err := s.Wait(canceled, "held"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait on a held key with a canceled ctx: %v", err)
	}
	if n := s.waiters.waiting(); n != 0 {
		t.Fatalf("%d keys still have local waiters", n)
	}
}

// TestManyWaitersOneSubscription: waits on many keys share the Store's one
// subscription; each wakes on its own key's answer only.
func TestManyWaitersOneSubscription(t *testing.T) {
	srv := redistest.Start(t)
	a := newInstance(t, srv, Options{})
	b := newInstance(t, srv, Options{Prefix: a.prefix, PollInterval: time.Hour})
	waitSubscribed(t, 1, a.Store, b.Store)
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
	subs, err := a.client.PubSubNumSub(t.Context(), a.prefix+"done").Result()
	if err != nil || subs[a.prefix+"done"] != 2 { // one per Store
		t.Fatalf("subscriptions for %d waits: %v %v", 3*keys, subs, err)
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

func TestCloseStopsTheSubscriberOnly(t *testing.T) {
	srv := redistest.Start(t)
	s := newInstance(t, srv, Options{})
	waitSubscribed(t, 1, s.Store)
	s.Close()
	s.Close() // again: no effect
	deadline := time.Now().Add(5 * time.Second)
	for {
		subs := s.client.PubSubNumSub(t.Context(), s.prefix+"done").Val()
		if subs[s.prefix+"done"] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the subscription outlived Close")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The client is the caller's: still open, and the store still works.
	c := mustClaim(t, s, "k", dedupe.Claimed)
	mustDo(t, "Complete", s.Complete(t.Context(), "k", c.Token, answerFor("k"), ttl))
	mustClaim(t, s, "k", dedupe.Answered)
}

// TestResubscriptionWakesWaits: wake-ups published while the subscriber's
// connection is down are lost; when it resubscribes, the waits look at
// their keys again at once instead of at the next poll.
func TestResubscriptionWakesWaits(t *testing.T) {
	srv := redistest.Start(t)
	a := newInstance(t, srv, Options{})
	b := newInstance(t, srv, Options{Prefix: a.prefix, PollInterval: time.Hour})
	waitSubscribed(t, 1, b.Store)
	mustClaim(t, a, "k", dedupe.Claimed)
	done := make(chan error, 1)
	go func() { done <- b.Wait(t.Context(), "k") }()
	for b.waiters.waiting() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)

	// The answer arrives without a wake-up (as if it was published while
	// b's subscriber was away), then b's subscriber loses its connection.
	ctx := t.Context()
	mustDo(t, "store the answer", a.client.Del(ctx, a.prefix+"k").Err())
	mustDo(t, "store the answer", a.client.HSet(ctx, a.prefix+"k", "a", dedupe.EncodeAnswer(nil, answerFor("k"))).Err())
	select {
	case err := <-done:
		t.Fatalf("Wait returned before the resubscription: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	mustDo(t, "CLIENT KILL", a.client.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err())
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
