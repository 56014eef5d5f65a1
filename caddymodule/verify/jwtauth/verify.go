package jwtauth

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
)

var (
	_ verify.Verifier   = (*Verifier)(nil)
	_ verify.BodyReader = (*Verifier)(nil)
)

// Verify finds the token, has golang-jwt's Parser verify it, and checks its
// time claims against in.Now. On success it sets out.ClaimsJSON to the
// payload's JSON object as signed (a buffer of its own), which templates read
// claims from, and out.Credential to the fingerprint of the key or secret
// that verified it. A failure's detail never holds the token, a secret, a
// kid or a claim value.
//
// The key is chosen from the configured keys only (keyFor); the jwk, jku,
// x5u and x5c headers are never read.
func (v *Verifier) Verify(in *verify.Input, out *verify.Output) error {
	tok, f := v.token(in.Request, in.Body)
	if f != nil {
		return f
	}
	var c claims
	var chosen *candidates
	t, err := v.parser.ParseWithClaims(tok, &c, func(t *jwt.Token) (any, error) {
		cands, f := v.keyFor(t)
		if f != nil {
			return nil, f
		}
		chosen = cands
		return cands.forParser, nil
	})
	if err != nil {
		return v.failure(t, err)
	}
	if c.json == nil {
		// The payload was null, which json.Unmarshal accepts without
		// calling claims.UnmarshalJSON.
		return verify.Fail(verify.ReasonMalformedToken, "payload is not a JSON object")
	}
	now := in.Now
	if now.IsZero() {
		now = time.Now()
	}
	if f := c.check(now, v.leeway, v.maxAge); f != nil {
		return f
	}
	out.ClaimsJSON = c.json
	out.Credential = chosen.verifierOf(t)
	return nil
}

// keyFor is the Parser's key function; the Parser has already refused an alg
// outside the allow-list.
//
//   - HMAC algs: every configured secret is tried (alternatives, for
//     rotation); secrets have no ids, so a kid is not consulted.
//   - RSA and EC algs, when at least one key has an id and the token has a
//     non-empty kid: the key with that id, which must fit the alg
//     (unknown_key, alg_not_allowed otherwise).
//   - Otherwise (no kid, or no key has an id): every key that fits the alg
//     is tried. A token without kid thus still verifies against keys with
//     ids, as a provider that never sends kid needs; it cannot widen what
//     verifies, since only configured keys are tried.
func (v *Verifier) keyFor(t *jwt.Token) (*candidates, *verify.Failure) {
	alg := t.Method.Alg()
	fam := algFamilies[alg]
	// The method's type is asserted as well as its name, so that an HMAC
	// method never receives a public key and no method registered under a
	// familiar name can slip through.
	if !methodIs(t.Method, fam) {
		return nil, algKeyMismatch(alg)
	}
	// RFC 7515 §4.1.11: a recipient must refuse extensions it does not
	// understand; this one understands none.
	if _, crit := t.Header["crit"]; crit {
		return nil, verify.Fail(verify.ReasonMalformedToken, "crit header extensions are not supported")
	}
	cands := v.byAlg[alg]
	kidValue, hasKid := t.Header["kid"]
	if fam == famHMAC || !v.anyKid || !hasKid {
		return cands, nil
	}
	kid, ok := kidValue.(string)
	if !ok {
		return nil, verify.Fail(verify.ReasonMalformedToken, "kid is not a string")
	}
	if kid == "" {
		return cands, nil
	}
	k := v.byKid[kid]
	if k == nil {
		return nil, verify.Fail(verify.ReasonUnknownKey, "kid names no configured key")
	}
	if !k.fits(alg) {
		return nil, algKeyMismatch(alg)
	}
	return k.alone, nil
}

// failure maps the Parser's error to the reason class.
func (v *Verifier) failure(t *jwt.Token, err error) *verify.Failure {
	var f *verify.Failure
	switch {
	case errors.As(err, &f): // from keyFor
		return f
	case errors.Is(err, jwt.ErrTokenMalformed):
		return verify.Fail(verify.ReasonMalformedToken, "not a JWS compact token with a JSON header and payload")
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// The alg names no signing method golang-jwt knows, or is absent.
		if _, named := t.Header["alg"].(string); named {
			return verify.Fail(verify.ReasonAlgNotAllowed, "unknown alg")
		}
		return verify.Fail(verify.ReasonMalformedToken, "no alg in the header")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		// WithValidMethods reports an alg outside the allow-list this way.
		if alg := t.Method.Alg(); !slices.Contains(v.algs, alg) {
			return verify.Fail(verify.ReasonAlgNotAllowed, "alg "+alg+" is not allowed")
		}
		return verify.Fail(verify.ReasonInvalidSignature, "signature does not verify")
	}
	return verify.Fail(verify.ReasonMalformedToken, "token not verified")
}

func algKeyMismatch(alg string) *verify.Failure {
	return verify.Fail(verify.ReasonAlgNotAllowed, "alg "+alg+" does not fit the key")
}

// methodIs reports whether m is a signing method of the family: the types of
// golang-jwt's own methods, nothing else.
func methodIs(m jwt.SigningMethod, fam family) bool {
	switch m.(type) {
	case *jwt.SigningMethodHMAC:
		return fam == famHMAC
	case *jwt.SigningMethodRSA, *jwt.SigningMethodRSAPSS:
		return fam == famRSA
	case *jwt.SigningMethodECDSA:
		return fam == famEC
	}
	return false
}

// verifierOf is the fingerprint of the candidate that verified t: the one
// candidate, or of several the first whose signature verifies, as the Parser
// tried them in order. Only a token that verified with one of several keys
// or secrets pays for that second check; a forged one never reaches it.
func (c *candidates) verifierOf(t *jwt.Token) string {
	if len(c.keys) == 1 {
		return c.fingerprints[0]
	}
	signed := t.Raw[:strings.LastIndexByte(t.Raw, '.')]
	for i, k := range c.keys {
		if t.Method.Verify(signed, t.Signature, k) == nil {
			return c.fingerprints[i]
		}
	}
	return ""
}
