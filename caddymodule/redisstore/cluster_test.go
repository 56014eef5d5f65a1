package redisstore

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/caddymodule/dedupe"
	"github.com/callbackguard/callbackguard/internal/redistest"
)

// TestCluster runs the store on a real three-node Redis Cluster through the
// seed-list URL: the scripts (two keys of one slot each) run on the node of
// their key, and a wake-up published on one node reaches a subscriber on
// another.
func TestCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	a := newInstance(t, c.URL(), Options{Prefix: "cg:", PollInterval: time.Hour})
	b := newInstance(t, c.URL(), Options{Prefix: "cg:", PollInterval: time.Hour})

	// Keys over all the nodes: each claimed at a, waited on at b, answered
	// at a; b's waits wake by Pub/Sub alone (polling is an hour apart).
	const keys = 12
	nodes := map[int64]bool{}
	for i := range keys {
		slot, err := c.Nodes[0].Do("CLUSTER", "KEYSLOT", fmt.Sprint("cg:{order-", i, "}"))
		if err != nil {
			t.Fatal(err)
		}
		nodes[slot.(int64)*3/16384] = true
	}
	if len(nodes) < 2 {
		t.Fatalf("the keys fall on %d node(s); the test needs them spread", len(nodes))
	}
	claims := make([]dedupe.Claim, keys)
	for i := range keys {
		key := fmt.Sprint("order-", i)
		claims[i] = mustClaim(t, a, key, dedupe.Claimed)
		mustClaim(t, b, key, dedupe.InFlight)
	}
	waitSubscribed(t, 1, b)
	var wg sync.WaitGroup
	errs := make(chan error, keys)
	for i := range keys {
		key := fmt.Sprint("order-", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := b.Wait(ctx, key); err != nil {
				errs <- fmt.Errorf("%s: wait: %w", key, err)
				return
			}
			got, err := b.Claim(ctx, key, claimTTL)
			if err != nil || got.State != dedupe.Answered || !sameAnswer(got.Answer, answerFor(key)) {
				errs <- fmt.Errorf("%s: after the wait: %+v %v", key, got, err)
			}
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.waiters.waiting() < keys && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the waits mark their claims
	answered := time.Now()
	for i := range keys {
		key := fmt.Sprint("order-", i)
		mustDo(t, "Complete", a.Complete(t.Context(), key, claims[i].Token, answerFor(key), ttl))
	}
	wg.Wait()
	t.Logf("%d waits over %d nodes woke within %v of the answers", keys, len(nodes), time.Since(answered))
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// Attempts count across instances on a cluster node too.
	first := mustClaim(t, a, "retried", dedupe.Claimed)
	mustDo(t, "Release", a.Release(t.Context(), "retried", first.Token, ttl))
	if again := mustClaim(t, b, "retried", dedupe.Claimed); again.Attempt != 2 {
		t.Fatalf("attempt after a release = %d, want 2", again.Attempt)
	}
}
