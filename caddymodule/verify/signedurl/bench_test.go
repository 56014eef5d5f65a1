package signedurl

import (
	"crypto/hmac"
	"crypto/sha256"
	"net/http"
	"testing"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
)

// glopalTarget is a typical Glopal success callback.
func glopalTarget() string {
	canonical := "https://shop.example.com/de/checkout/success/ORD-20240517-0042?currency=EUR&lang=de-DE&order=ORD-20240517-0042&ts=1715940000"
	return "/de/checkout/success/ORD-20240517-0042?order=ORD-20240517-0042&lang=de-DE&currency=EUR&ts=1715940000&sig=" +
		hmacHex(testSecret, canonical)
}

func BenchmarkVerify(b *testing.B) {
	v := mustNew(b, "sig", testSecret)
	in := &verify.Input{
		Request: &http.Request{RequestURI: glopalTarget()},
		Scheme:  "https",
		Host:    "shop.example.com",
	}
	out := &verify.Output{}
	if err := v.Verify(in, out); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Verify(in, out); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyParallel(b *testing.B) {
	v := mustNew(b, "sig", testSecret)
	target := glopalTarget()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		in := &verify.Input{Request: &http.Request{RequestURI: target}, Scheme: "https", Host: "shop.example.com"}
		for pb.Next() {
			if err := v.Verify(in, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCanonical is the exported, string-returning form (it allocates
// its results; the verifier does not).
func BenchmarkCanonical(b *testing.B) {
	target := glopalTarget()
	b.ReportAllocs()
	for b.Loop() {
		Canonical("https", "shop.example.com", target, "sig")
	}
}

// BenchmarkHMAC compares the verifier's pooled, Reset-restored HMAC with
// building one per call, for a canonical URL of typical length.
func BenchmarkHMAC(b *testing.B) {
	msg := []byte("https://shop.example.com/de/checkout/success/ORD-20240517-0042?currency=EUR&lang=de-DE&order=ORD-20240517-0042&ts=1715940000")
	key := []byte(testSecret)
	var sum [sha256.Size]byte
	b.Run("pooled", func(b *testing.B) {
		v := mustNew(b, "sig", testSecret)
		b.ReportAllocs()
		for b.Loop() {
			s := v.pool.Get().(*state)
			s.mac.Reset()
			s.mac.Write(msg)
			s.mac.Sum(s.sum[:0])
			v.pool.Put(s)
		}
	})
	b.Run("new-per-call", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m := hmac.New(sha256.New, key)
			m.Write(msg)
			m.Sum(sum[:0])
		}
	})
}
