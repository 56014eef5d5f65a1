package redisstore

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/callbackguard/callbackguard/caddymodule/dedupe"
	"github.com/callbackguard/callbackguard/internal/redistest"
)

// The benchmarks run against a local redis-server over loopback, so they
// measure a round trip plus the scripts; a network to a remote Redis adds
// its own latency per call.

// parallelism is the goroutines per CPU in the parallel benchmarks: many
// requests in flight at once, as in a loaded Caddy, so that round trips
// overlap.
const parallelism = 8

// BenchmarkClaimComplete is a delivery's cost on the store: claim a fresh
// key, then store its answer (two round trips).
func BenchmarkClaimComplete(b *testing.B) {
	srv := redistest.Start(b)
	s := newInstance(b, srv.URL(0), Options{})
	ans := answerFor("k")
	var seq atomic.Int64
	ctx := context.Background()
	b.SetParallelism(parallelism)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := "k" + strconv.FormatInt(seq.Add(1), 10)
			c, err := s.Claim(ctx, key, claimTTL)
			if err != nil || c.State != dedupe.Claimed {
				b.Fatalf("Claim: %v %v", c.State, err)
			}
			if err := s.Complete(ctx, key, c.Token, ans, ttl); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkClaimAnswered is a retried delivery's cost: one round trip that
// returns the stored answer, decoded.
func BenchmarkClaimAnswered(b *testing.B) {
	srv := redistest.Start(b)
	s := newInstance(b, srv.URL(0), Options{})
	ctx := context.Background()
	c, err := s.Claim(ctx, "k", claimTTL)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Complete(ctx, "k", c.Token, answerFor("k"), ttl); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(parallelism)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c, err := s.Claim(ctx, "k", claimTTL)
			if err != nil || c.State != dedupe.Answered {
				b.Fatalf("Claim: %v %v", c.State, err)
			}
		}
	})
}

// BenchmarkClaimCompleteSerial is the latency of one delivery's two calls,
// without the parallelism that hides it.
func BenchmarkClaimCompleteSerial(b *testing.B) {
	srv := redistest.Start(b)
	s := newInstance(b, srv.URL(0), Options{})
	ans := answerFor("k")
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		key := "k" + strconv.Itoa(i)
		c, err := s.Claim(ctx, key, claimTTL)
		if err != nil || c.State != dedupe.Claimed {
			b.Fatalf("Claim: %v %v", c.State, err)
		}
		if err := s.Complete(ctx, key, c.Token, ans, ttl); err != nil {
			b.Fatal(err)
		}
	}
}
