package signedurl

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzCanonical checks properties that hold for every input, node or not:
// no panic; the output is printable ASCII (no raw space, control or
// non-ASCII byte, so what is signed is unambiguous on the wire); the same
// input gives the same output; and for URLs node would accept, the form is
// a fixed point: canonicalizing the canonical URL's own host, path and
// query gives it back unchanged, without the signature parameter.
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

	f.Fuzz(func(t *testing.T, scheme, host, target, param string) {
		s := new(state)
		ok := s.build(scheme, host, target, param)
		got, sig, found := string(s.out), string(s.sig()), s.found
		for i := 0; i < len(got); i++ {
			if c := got[i]; c <= ' ' || c >= 0x7F {
				t.Fatalf("canonical %q has byte %#x at %d", got, c, i)
			}
		}
		if !utf8.ValidString(sig) {
			t.Fatalf("signature value %q is not valid UTF-8", sig)
		}
		if !found && sig != "" {
			t.Fatalf("not found but sig %q", sig)
		}
		if again, sig2, found2 := Canonical(scheme, host, target, param); again != got || sig2 != sig || found2 != found {
			t.Fatalf("not deterministic: %q then %q", got, again)
		}
		if !ok {
			return
		}
		// Split the canonical URL as a server would receive it.
		rest, cut := strings.CutPrefix(got, strings.ToLower(scheme)+"://")
		if !cut {
			t.Fatalf("canonical %q does not start with the scheme", got)
		}
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			t.Fatalf("canonical %q has no path", got)
		}
		ok2 := s.build(scheme, rest[:i], rest[i:], param)
		if again := string(s.out); !ok2 || again != got || s.found {
			t.Fatalf("not idempotent:\n in    %q %q %q\n once  %q\n twice %q (ok %v, found %v)", scheme, host, target, got, again, ok2, s.found)
		}
	})
}
