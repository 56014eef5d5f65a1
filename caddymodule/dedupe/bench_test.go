package dedupe

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
)

// freshKeys makes n distinct keys shaped like the guard's.
func freshKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("payglocal:gl_%032x:SENT_FOR_CAPTURE", i)
	}
	return keys
}

// BenchmarkClaimComplete is the first delivery of a callback: claim a new
// key, then store the answer.
func BenchmarkClaimComplete(b *testing.B) {
	for _, parallel := range []bool{false, true} {
		b.Run(fmt.Sprintf("parallel=%v", parallel), func(b *testing.B) {
			m := newTestMemory(b, MemoryOptions{})
			keys := freshKeys(b.N)
			ans := answerFor("gl_0123456789abcdef")
			ctx := context.Background()
			var next atomic.Int64
			op := func() bool {
				key := keys[next.Add(1)-1]
				c, err := m.Claim(ctx, key, claimTTL)
				if err != nil || c.State != Claimed {
					b.Errorf("Claim: %v %v", c.State, err)
					return false
				}
				if err := m.Complete(ctx, key, c.Token, ans, ttl); err != nil {
					b.Error(err)
					return false
				}
				return true
			}
			b.ReportAllocs()
			b.ResetTimer()
			if !parallel {
				for range b.N {
					if !op() {
						return
					}
				}
				return
			}
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if !op() {
						return
					}
				}
			})
		})
	}
}

// BenchmarkClaimAnswered is a retried delivery: the key is answered and the
// claim returns the stored answer (the replay path).
func BenchmarkClaimAnswered(b *testing.B) {
	for _, parallel := range []bool{false, true} {
		b.Run(fmt.Sprintf("parallel=%v", parallel), func(b *testing.B) {
			m := newTestMemory(b, MemoryOptions{})
			keys := freshKeys(1024)
			ctx := context.Background()
			for _, key := range keys {
				c, _ := m.Claim(ctx, key, claimTTL)
				if err := m.Complete(ctx, key, c.Token, answerFor(key), ttl); err != nil {
					b.Fatal(err)
				}
			}
			var next atomic.Int64
			op := func() bool {
				c, err := m.Claim(ctx, keys[next.Add(1)%int64(len(keys))], claimTTL)
				if err != nil || c.State != Answered {
					b.Errorf("Claim: %v %v", c.State, err)
					return false
				}
				return true
			}
			b.ReportAllocs()
			b.ResetTimer()
			if !parallel {
				for range b.N {
					if !op() {
						return
					}
				}
				return
			}
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if !op() {
						return
					}
				}
			})
		})
	}
}

func BenchmarkEncodeAnswer(b *testing.B) {
	a := answerFor("gl_0123456789abcdef")
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = EncodeAnswer(buf[:0], a)
	}
}

func BenchmarkDecodeAnswer(b *testing.B) {
	enc := EncodeAnswer(nil, answerFor("gl_0123456789abcdef"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeAnswer(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDigest(b *testing.B) {
	key := "payglocal:gl_0123456789abcdef0123456789abcdef:SENT_FOR_CAPTURE"
	b.ReportAllocs()
	for b.Loop() {
		_ = digestOf(key)
	}
}
