package config

import "testing"

// payglocal forwards the verified claims in X-Callback-Claims unless the
// guard says otherwise; every other preset forwards none by default.
func TestForwardClaimsDefault(t *testing.T) {
	jwt := &JWT{Keys: []JWTKey{{KeyID: "k1", File: "/k1.pem"}}}
	cases := []struct {
		preset, set, want string
	}{
		{"payglocal", "", "header"},
		{"payglocal", "off", "off"},
		{"payglocal", "body", "body"},
		{"generic", "", "off"},
		{"generic", "header", "header"},
	}
	for _, c := range cases {
		g := Guard{Preset: c.preset, JWT: jwt, ForwardClaims: c.set}
		s, err := g.Resolve()
		if err != nil {
			t.Fatalf("%s forward_claims %q: %v", c.preset, c.set, err)
		}
		if s.ForwardClaims != c.want {
			t.Errorf("%s forward_claims %q: %q, want %q", c.preset, c.set, s.ForwardClaims, c.want)
		}
	}
}
