// Package jwtauth is the jwt verifier of the callback_guard directive: it
// finds the one token of a request (a header, a form or JSON body field, a
// query parameter; see sources.go), has golang-jwt's Parser verify it with a
// configured key or secret, and checks its time claims by PayGlocal's rules
// (a string iat in milliseconds, a relative exp; see claims.go).
package jwtauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/textproto"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Source is one place a token may be found. Kind is "form" (a field of an
// application/x-www-form-urlencoded body), "json" (a top-level string field
// of a JSON object body), "header" or "query". A header source named
// Authorization requires the Bearer scheme (any case); any other header holds
// the bare token.
type Source struct {
	Kind string
	Name string
}

// Key is a configured public key: *rsa.PublicKey or *ecdsa.PublicKey. ID is
// matched against the token's kid header; it may be empty.
type Key struct {
	ID  string
	Key crypto.PublicKey
}

// Config is the jwt subdirective, parsed.
type Config struct {
	// Sources are where the token may be; the request must hold one token
	// field in all. Empty: the Authorization header with the Bearer scheme.
	Sources []Source
	Keys    []Key
	// Secrets are HMAC secrets, alternatives (rotation).
	Secrets [][]byte
	// Algs is the allow-list. Empty: every algorithm a configured key or
	// secret can verify (RSA: RS256-512 and PS256-512; EC: the ES algorithm
	// of its curve; secrets: HS256-512).
	Algs []string
	// Leeway is the clock skew allowed on exp, nbf and iat (the caller
	// passes the default of 1m).
	Leeway time.Duration
	// MaxAge, when positive, rejects tokens whose iat is older, or absent.
	MaxAge time.Duration
}

// family is the kind of key an algorithm verifies with.
type family uint8

const (
	famRSA family = iota + 1
	famEC
	famHMAC
)

// algFamilies lists every algorithm the verifier knows, with the key kind it
// needs. EdDSA is left out: only RSA and EC keys are configurable.
var algFamilies = map[string]family{
	"RS256": famRSA, "RS384": famRSA, "RS512": famRSA,
	"PS256": famRSA, "PS384": famRSA, "PS512": famRSA,
	"ES256": famEC, "ES384": famEC, "ES512": famEC,
	"HS256": famHMAC, "HS384": famHMAC, "HS512": famHMAC,
}

// algOrder is the order in which derived algorithms are listed.
var algOrder = []string{
	"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512", "HS256", "HS384", "HS512",
}

// pubKey is a configured public key with what it verifies.
type pubKey struct {
	label string // for configuration errors
	fam   family // famRSA or famEC
	es    string // for EC keys, the one ES algorithm of the curve
	// alone is the key as the only candidate, for a token whose kid names it.
	alone *candidates
}

func (k *pubKey) fits(alg string) bool {
	switch algFamilies[alg] {
	case famRSA:
		return k.fam == famRSA
	case famEC:
		return k.fam == famEC && k.es == alg
	}
	return false
}

// candidates are the keys, or the secrets, that may verify a token, each
// with the fingerprint of its credential, and what the key function hands
// the Parser for them: the one key, or a jwt.VerificationKeySet of all of
// them, tried in order. Built once, so that the hot path allocates nothing.
type candidates struct {
	keys         []jwt.VerificationKey
	fingerprints []string
	forParser    any
}

func newCandidates(keys []jwt.VerificationKey, fingerprints []string) *candidates {
	c := &candidates{keys: keys, fingerprints: fingerprints, forParser: keys[0]}
	if len(keys) > 1 {
		c.forParser = jwt.VerificationKeySet{Keys: keys}
	}
	return c
}

// Verifier is the jwt verifier. It is immutable after New and safe for
// concurrent use.
type Verifier struct {
	sources    []source
	usesAuth   bool
	readsBody  bool
	missingMsg string // failure detail when no source holds a token

	algs   []string
	parser *jwt.Parser

	// byKid holds the keys that have an id. anyKid: at least one has.
	byKid  map[string]*pubKey
	anyKid bool
	// byAlg holds, for each allowed algorithm, what verifies it when the
	// kid does not choose: every key that fits it, or every secret.
	byAlg map[string]*candidates

	leeway time.Duration
	maxAge time.Duration
}

// New checks cfg and builds a Verifier. Every configuration mistake is an
// error here, so that none surfaces first at request time.
func New(cfg Config) (*Verifier, error) {
	if cfg.Leeway < 0 {
		return nil, errors.New("leeway must not be negative")
	}
	if cfg.MaxAge < 0 {
		return nil, errors.New("max_age must not be negative")
	}
	if len(cfg.Keys) == 0 && len(cfg.Secrets) == 0 {
		return nil, errors.New("no key and no secret: configure at least one key <kid> <pem-file> or secret <hmac-secret>")
	}
	v := &Verifier{
		byKid:  make(map[string]*pubKey),
		byAlg:  make(map[string]*candidates),
		leeway: cfg.Leeway,
		maxAge: cfg.MaxAge,
	}
	if err := v.setSources(cfg.Sources); err != nil {
		return nil, err
	}
	keys, err := v.setKeys(cfg.Keys)
	if err != nil {
		return nil, err
	}
	secrets, err := newSecrets(cfg.Secrets)
	if err != nil {
		return nil, err
	}
	algs, err := chooseAlgs(cfg.Algs, keys, secrets != nil)
	if err != nil {
		return nil, err
	}
	v.algs = algs

	// A key or secret that no allowed algorithm can use is a configuration
	// mistake (an EC key under "algs RS256", a secret with only RS algs):
	// say so rather than ignore it silently.
	for _, k := range keys {
		if !slices.ContainsFunc(algs, k.fits) {
			return nil, fmt.Errorf("%s fits none of the algs %s", k.label, strings.Join(algs, " "))
		}
	}
	if secrets != nil && !slices.ContainsFunc(algs, func(a string) bool { return algFamilies[a] == famHMAC }) {
		return nil, fmt.Errorf("a secret is configured but algs (%s) holds no HS256, HS384 or HS512", strings.Join(algs, " "))
	}

	for _, alg := range algs {
		if algFamilies[alg] == famHMAC {
			v.byAlg[alg] = secrets
			continue
		}
		var fit []jwt.VerificationKey
		var fps []string
		for _, k := range keys {
			if k.fits(alg) {
				fit = append(fit, k.alone.keys[0])
				fps = append(fps, k.alone.fingerprints[0])
			}
		}
		v.byAlg[alg] = newCandidates(fit, fps)
	}
	// The time claims are checked by claims.check, after the signature:
	// golang-jwt's validation misreads PayGlocal's. Claims are decoded with
	// json.Unmarshal (no WithJSONNumber, whose Decoder ignores text after
	// the object); strict base64 gives one signature one spelling.
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(algs),
		jwt.WithoutClaimsValidation(),
		jwt.WithStrictDecoding(),
	)
	return v, nil
}

// setKeys checks the public keys and indexes those with an id.
func (v *Verifier) setKeys(cfgKeys []Key) ([]*pubKey, error) {
	keys := make([]*pubKey, 0, len(cfgKeys))
	for i, k := range cfgKeys {
		label := fmt.Sprintf("key %q", k.ID)
		if k.ID == "" {
			label = fmt.Sprintf("key #%d (no id)", i+1)
		}
		if err := checkPublicKey(k.Key); err != nil {
			return nil, fmt.Errorf("%s: %w", label, err)
		}
		fp, err := keyFingerprint(k.ID, k.Key)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", label, err)
		}
		pk := &pubKey{label: label, alone: newCandidates([]jwt.VerificationKey{k.Key}, []string{fp})}
		switch kk := k.Key.(type) {
		case *rsa.PublicKey:
			pk.fam = famRSA
		case *ecdsa.PublicKey:
			pk.fam, pk.es = famEC, ecAlg(kk)
		}
		if k.ID != "" {
			if _, dup := v.byKid[k.ID]; dup {
				return nil, fmt.Errorf("duplicate key id %q", k.ID)
			}
			v.byKid[k.ID] = pk
			v.anyKid = true
		}
		keys = append(keys, pk)
	}
	return keys, nil
}

// newSecrets copies the HMAC secrets into candidates; nil when there are
// none.
func newSecrets(cfgSecrets [][]byte) (*candidates, error) {
	if len(cfgSecrets) == 0 {
		return nil, nil
	}
	secrets := make([]jwt.VerificationKey, len(cfgSecrets))
	fps := make([]string, len(cfgSecrets))
	for i, s := range cfgSecrets {
		if len(s) == 0 {
			return nil, fmt.Errorf("secret #%d is empty", i+1)
		}
		secrets[i], fps[i] = slices.Clone(s), secretFingerprint(s)
	}
	return newCandidates(secrets, fps), nil
}

// chooseAlgs validates the configured allow-list, or derives it from the
// keys and secrets when none is given.
func chooseAlgs(cfgAlgs []string, keys []*pubKey, haveSecrets bool) ([]string, error) {
	fits := func(alg string) bool {
		if algFamilies[alg] == famHMAC {
			return haveSecrets
		}
		return slices.ContainsFunc(keys, func(k *pubKey) bool { return k.fits(alg) })
	}
	if len(cfgAlgs) == 0 {
		var algs []string
		for _, alg := range algOrder {
			if fits(alg) {
				algs = append(algs, alg)
			}
		}
		return algs, nil
	}
	var algs []string
	for _, alg := range cfgAlgs {
		fam, known := algFamilies[alg]
		switch {
		case strings.EqualFold(alg, "none"):
			return nil, errors.New(`alg "none" is never accepted: an unsigned token proves nothing`)
		case !known:
			return nil, fmt.Errorf("unknown alg %q (known: %s)", alg, strings.Join(algOrder, " "))
		case !fits(alg):
			need := map[family]string{famRSA: "an RSA key", famEC: "an EC key on the curve of " + alg, famHMAC: "a secret"}[fam]
			return nil, fmt.Errorf("alg %s fits no configured key or secret (it needs %s)", alg, need)
		}
		if !slices.Contains(algs, alg) {
			algs = append(algs, alg)
		}
	}
	return algs, nil
}

var sourcePlaces = map[string]place{"header": inHeader, "query": inQuery, "form": inForm, "json": inJSON}

func (v *Verifier) setSources(srcs []Source) error {
	if len(srcs) == 0 {
		v.sources = []source{{place: inHeader, name: "Authorization", bearer: true}}
		v.usesAuth = true
		v.missingMsg = "no Bearer token in the Authorization header"
		return nil
	}
	var where []string
	for _, s := range srcs {
		if strings.TrimSpace(s.Name) == "" {
			return fmt.Errorf("from %s: empty name", s.Kind)
		}
		p, ok := sourcePlaces[s.Kind]
		if !ok {
			return fmt.Errorf("from %q: unknown source kind (form, json, header or query)", s.Kind)
		}
		src := source{place: p, name: s.Name}
		switch p {
		case inHeader:
			src.name = textproto.CanonicalMIMEHeaderKey(s.Name)
			src.bearer = src.name == "Authorization"
			v.usesAuth = v.usesAuth || src.bearer
		}
		// A token field of this name in the body counts too (PHP's
		// $_REQUEST merges query and form), so every source but the
		// Authorization header needs the body read first.
		v.readsBody = v.readsBody || !src.bearer
		v.sources = append(v.sources, src)
		where = append(where, src.describe())
	}
	v.missingMsg = "no token in the " + strings.Join(where, ", the ")
	return nil
}

// Kind is the name of the subdirective.
func (v *Verifier) Kind() string { return "jwt" }

// ReadsBody reports whether the handler must read the body before it runs
// this verifier: for every source but the Authorization header, a field of
// the token's name in the body is a second token a backend could read. A
// verifier of the Authorization header alone runs before the body is read.
func (v *Verifier) ReadsBody() bool { return v.readsBody }

// UsesAuthorizationHeader reports whether a token may come from the
// Authorization header, which the handler then strips before forwarding.
func (v *Verifier) UsesAuthorizationHeader() bool { return v.usesAuth }
