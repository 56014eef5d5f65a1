package jwtauth

import (
	"crypto/ed25519"
	"crypto/rand"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNewErrors(t *testing.T) {
	k := testKeys()
	rsaKey := Key{ID: "k1", Key: &k.rsa1.PublicKey}
	ecKey := Key{ID: "e1", Key: &k.ec256.PublicKey}
	secret := [][]byte{k.secret1}
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	cases := []struct {
		name string
		cfg  Config
		want string // a part of the message
	}{
		{"unknown alg", Config{Keys: []Key{rsaKey}, Algs: []string{"RS257"}}, `unknown alg "RS257"`},
		{"none in algs", Config{Keys: []Key{rsaKey}, Algs: []string{"RS256", "none"}}, `"none" is never accepted`},
		{"None in algs", Config{Secrets: secret, Algs: []string{"None"}}, `"none" is never accepted`},
		{"RS256 with only a secret", Config{Secrets: secret, Algs: []string{"RS256"}}, "alg RS256 fits no configured key or secret (it needs an RSA key)"},
		{"ES384 with only a P-256 key", Config{Keys: []Key{ecKey}, Algs: []string{"ES384"}}, "alg ES384 fits no configured key or secret (it needs an EC key on the curve of ES384)"},
		{"HS256 with no secret", Config{Keys: []Key{rsaKey}, Algs: []string{"HS256"}}, "alg HS256 fits no configured key or secret (it needs a secret)"},
		{"HS256 beside RS256 with only a public key", Config{Keys: []Key{rsaKey}, Algs: []string{"RS256", "HS256"}}, "alg HS256 fits no configured key or secret"},
		{"no key and no secret", Config{Algs: []string{"RS256"}}, "no key and no secret"},
		{"duplicate kid", Config{Keys: []Key{rsaKey, {ID: "k1", Key: &k.rsa2.PublicKey}}}, `duplicate key id "k1"`},
		{"empty source name", Config{Keys: []Key{rsaKey}, Sources: []Source{{Kind: "form", Name: " "}}}, "from form: empty name"},
		{"unknown source kind", Config{Keys: []Key{rsaKey}, Sources: []Source{{Kind: "cookie", Name: "t"}}}, `from "cookie": unknown source kind`},
		{"key of an unsupported type", Config{Keys: []Key{{ID: "ed", Key: edPub}}}, `key "ed": unsupported key type Ed25519`},
		{"nil key", Config{Keys: []Key{{ID: "x"}}}, `key "x": no public key`},
		{"short RSA key", Config{Keys: []Key{{Key: &mustRSA(1024).PublicKey}}}, "key #1 (no id): RSA key of 1024 bits is too short"},
		{"empty secret", Config{Secrets: [][]byte{k.secret1, {}}}, "secret #2 is empty"},
		{"key unusable under algs", Config{Keys: []Key{rsaKey, ecKey}, Algs: []string{"RS256"}}, `key "e1" fits none of the algs RS256`},
		{"secret unusable under algs", Config{Keys: []Key{rsaKey}, Secrets: secret, Algs: []string{"RS256"}}, "a secret is configured but algs (RS256) holds no HS256"},
		{"negative leeway", Config{Secrets: secret, Leeway: -time.Second}, "leeway must not be negative"},
		{"negative max_age", Config{Secrets: secret, MaxAge: -time.Second}, "max_age must not be negative"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := New(c.cfg)
			if err == nil {
				t.Fatalf("New accepted the configuration (algs %v)", v.algs)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
			if strings.Contains(err.Error(), string(k.secret1)) {
				t.Errorf("error %q quotes a secret", err)
			}
		})
	}
}

func TestDerivedAlgs(t *testing.T) {
	k := testKeys()
	cases := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"RSA", Config{Keys: []Key{{ID: "k1", Key: &k.rsa1.PublicKey}}}, []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}},
		{"EC P-256", Config{Keys: []Key{{Key: &k.ec256.PublicKey}}}, []string{"ES256"}},
		{"EC P-256 and P-384", Config{Keys: []Key{{ID: "a", Key: &k.ec256.PublicKey}, {ID: "b", Key: &k.ec384.PublicKey}}}, []string{"ES256", "ES384"}},
		{"secrets", Config{Secrets: [][]byte{k.secret1, k.secret2}}, []string{"HS256", "HS384", "HS512"}},
		{"everything", Config{Keys: []Key{{ID: "k1", Key: &k.rsa1.PublicKey}, {ID: "e", Key: &k.ec384.PublicKey}}, Secrets: [][]byte{k.secret1}},
			[]string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES384", "HS256", "HS384", "HS512"}},
		{"configured, deduplicated", Config{Keys: []Key{{ID: "k1", Key: &k.rsa1.PublicKey}}, Algs: []string{"RS256", "PS256", "RS256"}}, []string{"RS256", "PS256"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := mustNew(t, c.cfg)
			if got := v.algs; !slices.Equal(got, c.want) {
				t.Errorf("algs = %v, want %v", got, c.want)
			}
		})
	}
}

func TestKindAuthorizationHeaderAndBody(t *testing.T) {
	k := testKeys()
	base := Config{Keys: []Key{{ID: "k1", Key: &k.rsa1.PublicKey}}}
	cases := []struct {
		name            string
		sources         []Source
		want, readsBody bool
	}{
		{"default", nil, true, false},
		{"payglocal", payglocalSources(), false, true},
		{"explicit authorization, any case", []Source{{Kind: "form", Name: "t"}, {Kind: "header", Name: "authorization"}}, true, true},
		{"other header", []Source{{Kind: "header", Name: "X-Token"}}, false, true},
		{"query named Authorization", []Source{{Kind: "query", Name: "Authorization"}}, false, true},
		{"json", []Source{{Kind: "json", Name: "token"}}, false, true},
	}
	for _, c := range cases {
		cfg := base
		cfg.Sources = c.sources
		v := mustNew(t, cfg)
		if v.Kind() != "jwt" {
			t.Errorf("Kind() = %q", v.Kind())
		}
		if got := v.UsesAuthorizationHeader(); got != c.want {
			t.Errorf("%s: UsesAuthorizationHeader() = %v, want %v", c.name, got, c.want)
		}
		if got := v.ReadsBody(); got != c.readsBody {
			t.Errorf("%s: ReadsBody() = %v, want %v", c.name, got, c.readsBody)
		}
	}
}

// New copies the secrets: a caller that reuses its buffer cannot change
// what verifies.
func TestNewCopiesSecrets(t *testing.T) {
	k := testKeys()
	buf := []byte(string(k.secret1))
	v := mustNew(t, Config{Secrets: [][]byte{buf}, Leeway: time.Minute})
	tok := sign(t, "HS256", k.secret1, hdr("HS256", ""), freshClaims())
	copy(buf, "XXXXXXXX")
	r, _ := bearer(t, tok)
	if _, err := run(v, r, nil, testNow); err != nil {
		t.Fatal(err)
	}
}
