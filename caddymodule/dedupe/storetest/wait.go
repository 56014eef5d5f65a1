package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/caddymodule/dedupe"
)

// RunWait runs the cases of Wait alone: the claim held at one instance, the
// wait at the other, ended by a release, an answer, the claim's expiry or
// the waiter's ctx. A store with several ways to wake (Redis: Pub/Sub and
// polling) runs it once per way.
func RunWait(t *testing.T, open Open) {
	cases := []struct {
		name     string
		claimTTL time.Duration
		// end makes the wait end; it runs while Wait is blocked.
		end     func(holder dedupe.Store, c dedupe.Claim, cancel context.CancelFunc)
		wantErr error
	}{
		{"release", ClaimTTL, func(h dedupe.Store, c dedupe.Claim, _ context.CancelFunc) {
			_ = h.Release(context.Background(), "k", c.Token, TTL)
		}, nil},
		{"complete", ClaimTTL, func(h dedupe.Store, c dedupe.Claim, _ context.CancelFunc) {
			_ = h.Complete(context.Background(), "k", c.Token, AnswerFor("k"), TTL)
		}, nil},
		{"claim expiry", ShortClaim, func(dedupe.Store, dedupe.Claim, context.CancelFunc) {}, nil},
		{"cancel", ClaimTTL, func(_ dedupe.Store, _ dedupe.Claim, cancel context.CancelFunc) { cancel() }, context.Canceled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			holder, waiter := open(t)
			c := MustClaimTTL(t, holder, "k", tc.claimTTL, dedupe.Claimed)
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
				if tc.claimTTL == ShortClaim {
					if late := time.Since(claimed) - tc.claimTTL; late > margin {
						t.Fatalf("Wait ended %v after the claim expired", late)
					}
				} else if took := time.Since(ended); took > 2*margin {
					t.Fatalf("Wait ended %v after the %s", took, tc.name)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Wait did not return")
			}
		})
	}
}

func waitWhenNotHeld(t *testing.T, a, b dedupe.Store) {
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	MustDo(t, "Wait on an unknown key", b.Wait(canceled, "unknown"))

	c := MustClaim(t, a, "answered", dedupe.Claimed)
	MustDo(t, "Complete", a.Complete(t.Context(), "answered", c.Token, AnswerFor("a"), TTL))
	MustDo(t, "Wait on an answered key", b.Wait(canceled, "answered"))

	c = MustClaim(t, a, "released", dedupe.Claimed)
	MustDo(t, "Release", a.Release(t.Context(), "released", c.Token, TTL))
	MustDo(t, "Wait on a released key", b.Wait(canceled, "released"))

	MustClaimTTL(t, a, "expired", ShortClaim, dedupe.Claimed)
	expire()
	MustDo(t, "Wait on an expired claim", b.Wait(canceled, "expired"))

	MustClaim(t, a, "held", dedupe.Claimed)
	if err := b.Wait(canceled, "held"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait on a held key with a canceled ctx: %v", err)
	}
}

// concurrentClaims is the load balancer's case: the deliveries of one key
// spread over two instances at once. One claim wins; the others wait, claim
// again and replay its answer.
func concurrentClaims(t *testing.T, a, b dedupe.Store) {
	stores := []dedupe.Store{a, b}
	const n = 50
	results, errs := claimAtOnce(stores, n)
	winner := -1
	for i, c := range results {
		MustDo(t, "Claim", errs[i])
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
	replayed, failures := waitAndReplay(t, stores, n, winner, results[winner].Token)
	for _, err := range failures {
		t.Error(err)
	}
	for _, ans := range replayed {
		if !SameAnswer(ans, AnswerFor("k")) {
			t.Fatalf("replayed %+v", ans)
		}
	}
	if len(replayed) != n-1 {
		t.Fatalf("%d replays, want %d", len(replayed), n-1)
	}
}

// claimAtOnce claims "k" n times at once, claim i at stores[i%2], and
// returns the claims and their errors in that order.
func claimAtOnce(stores []dedupe.Store, n int) ([]dedupe.Claim, []error) {
	var start, claimed sync.WaitGroup
	results := make([]dedupe.Claim, n)
	errs := make([]error, n)
	start.Add(1)
	claimed.Add(n)
	for i := range n {
		go func() {
			defer claimed.Done()
			start.Wait()
			results[i], errs[i] = stores[i%2].Claim(context.Background(), "k", ClaimTTL)
		}()
	}
	start.Done()
	claimed.Wait()
	return results, errs
}

// waitAndReplay has each of the n claims but the winner's wait for "k" and
// claim it again, while the winner completes it with token; it returns the
// answers replayed and the failures.
func waitAndReplay(t *testing.T, stores []dedupe.Store, n, winner int, token uint64) ([]*dedupe.Answer, []error) {
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
			c, err := s.Claim(ctx, "k", ClaimTTL)
			if err != nil || c.State != dedupe.Answered {
				failures <- fmt.Errorf("claim after wait: %v %v", c.State, err)
				return
			}
			replayed <- c.Answer
		}()
	}
	time.Sleep(50 * time.Millisecond) // let the waiters block
	MustDo(t, "Complete", stores[winner%2].Complete(t.Context(), "k", token, AnswerFor("k"), TTL))
	replays.Wait()
	close(failures)
	close(replayed)
	var answers []*dedupe.Answer
	for ans := range replayed {
		answers = append(answers, ans)
	}
	var errs []error
	for err := range failures {
		errs = append(errs, err)
	}
	return answers, errs
}
