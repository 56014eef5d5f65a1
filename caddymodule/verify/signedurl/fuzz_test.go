package signedurl

import (
	"encoding/hex"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzCanonical checks properties that hold for every input, node or not:
// no panic; the same output whether the origin was remembered from the
// request before or not; the output is printable ASCII (no raw space, control or
// non-ASCII byte, so what is signed is unambiguous on the wire); and for
// URLs node would accept, the form is a fixed point: canonicalizing the
// canonical URL's own host, path and query gives it back unchanged,
// without the signature parameter. For a target the verifier accepts, the
// signed path means what the raw one does: percent-decoded, they are the
// same bytes (no segment dropped, no separator added).
// The seed corpus is the node vectors, so `go test` runs them through it.
func FuzzCanonical(f *testing.F) {
	for _, v := range loadVectors(f) {
		for _, u := range []string{v.URL, v.Signed} {
			scheme, host, target := splitURL(f, u)
			f.Add(scheme, host, target, v.Param)
		}
	}
	f.Add("https", "a", "/\xe2\x82A/%2e%2E/..\\.?%F0%9F%98%80=1&%EF%BF%BF=2& =+&sig=1&sig=2", "sig")
	f.Add("http", "[::ffff:1.2.3.4]:80", "http://x/y?z", "z")
	f.Add("https", "shop.example.com", "/DE/ORD-6666/%2e%2E/ORD-1001?sig=1", "sig")

	f.Fuzz(func(t *testing.T, scheme, host, target, param string) {
		got, sig, found, err := canonicalRequest(scheme, host, target, param)
		if err != nil {
			return
		}
		lastOrigin.Store(nil)
		if fresh, _, _, _ := canonicalRequest(scheme, host, target, param); fresh != got {
			t.Fatalf("with the origin remembered %q, parsed afresh %q", got, fresh)
		}
		for i := 0; i < len(got); i++ {
			if c := got[i]; c <= ' ' || c >= 0x7F {
				t.Fatalf("canonical %q has byte %#x at %d", got, c, i)
			}
		}
		if !utf8.ValidString(sig) || !found && sig != "" {
			t.Fatalf("signature value %q (found %v)", sig, found)
		}
		// Split the canonical URL as a server would receive it.
		rest, cut := strings.CutPrefix(got, strings.ToLower(scheme)+"://")
		i := strings.IndexByte(rest, '/')
		if !cut || i < 0 {
			t.Fatalf("canonical %q is not scheme://host/path", got)
		}
		again, _, found2, err := canonicalRequest(scheme, rest[:i], rest[i:], param)
		if err != nil || again != got || found2 {
			t.Fatalf("not idempotent:\n in    %q %q %q\n once  %q\n twice %q (%v, found %v)", scheme, host, target, got, again, err, found2)
		}
		if checkTarget(target) != nil {
			return
		}
		rawPath, _, _ := strings.Cut(target, "?")
		if rawPath == "" {
			rawPath = "/"
		}
		signedPath, _, _ := strings.Cut(rest[i:], "?")
		if percentDecode(signedPath) != percentDecode(rawPath) {
			t.Fatalf("accepted target %q is signed as path %q", target, signedPath)
		}
	})
}

// percentDecode decodes valid %XX sequences and keeps the rest as written.
func percentDecode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if x, err := hex.DecodeString(s[i+1 : i+3]); err == nil {
				b.Write(x)
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
