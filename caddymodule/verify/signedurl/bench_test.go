package signedurl

import (
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
			if err := v.Verify(in, &verify.Output{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkCanonicalRequest(b *testing.B) {
	target := glopalTarget()
	b.ReportAllocs()
	for b.Loop() {
		canonicalRequest("https", "shop.example.com", target, "sig")
	}
}
