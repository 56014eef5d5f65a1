package jwtauth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
	"github.com/golang-jwt/jwt/v5"
)

// Errors of the key function, told apart in failure.
var (
	errAlgKey     = errors.New("alg does not fit the key")
	errUnknownKey = errors.New("kid names no configured key")
	errKidType    = errors.New("kid is not a string")
	errCrit       = errors.New("crit header present")
)

// Verify finds the token, verifies its signature and checks its time claims
// against in.Now. On success it sets out.ClaimsJSON to the payload exactly as
// signed and out.Claims to it decoded (numbers as json.Number). A failure's
// detail names what went wrong but never holds the token, a secret, a kid or
// a claim value.
func (v *Verifier) Verify(in *verify.Input, out *verify.Output) error {
	tok, st, src := v.extract(in.Request, in.Body)
	switch st {
	case absent:
		return verify.Fail(verify.ReasonMissingToken, v.missingMsg)
	case ambiguous:
		return verify.Fail(verify.ReasonMalformedToken, "more than one token, or an undecodable one, in "+src.describe())
	}

	claims := new(rawClaims)
	t, err := v.parser.ParseWithClaims(tok, claims, v.keyFn)
	if err != nil {
		return v.failure(t, err)
	}
	if len(claims.raw) == 0 || claims.raw[0] != '{' {
		return verify.Fail(verify.ReasonMalformedToken, "payload is not a JSON object")
	}
	m, err := decodeClaims(claims.raw)
	if err != nil {
		return verify.Fail(verify.ReasonMalformedToken, "payload is not a JSON object")
	}

	now := in.Now
	if now.IsZero() {
		now = time.Now()
	}
	if f := v.checkTimes(m, now); f != nil {
		return f
	}

	out.ClaimsJSON = signedPayload(tok, claims.raw)
	out.Claims = m
	return nil
}

// keyFor is the key function given to golang-jwt. It runs after the alg has
// passed the allow-list, and chooses only among the configured keys: the
// jwk, jku, x5u and x5c headers are never read.
//
//   - HMAC algs: every configured secret is tried (alternatives, for
//     rotation); secrets have no ids, so a kid is not consulted.
//   - RSA and EC algs, when at least one key has an id and the token has a
//     non-empty kid: the key with that id, which must fit the alg
//     (unknown_key, alg_not_allowed otherwise).
//   - Otherwise (no kid, or no key has an id): every key that fits the alg
//     is tried, ids or not. A token without kid thus still verifies against
//     a key set with ids, which is what a provider that never sends kid
//     needs; it cannot widen what verifies, since only configured keys are
//     tried.
func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	cands, allowed := v.byAlg[alg]
	if !allowed {
		return nil, errAlgKey
	}
	// Assert the method's type as well as its name, so that an HMAC
	// verifier never receives a public key and no method registered under
	// a familiar name can slip through.
	fam := algFamilies[alg]
	switch t.Method.(type) {
	case *jwt.SigningMethodHMAC:
		if fam != famHMAC {
			return nil, errAlgKey
		}
	case *jwt.SigningMethodRSA, *jwt.SigningMethodRSAPSS:
		if fam != famRSA {
			return nil, errAlgKey
		}
	case *jwt.SigningMethodECDSA:
		if fam != famEC {
			return nil, errAlgKey
		}
	default:
		return nil, errAlgKey
	}
	// RFC 7515 §4.1.11: a recipient must refuse extensions it does not
	// understand; this one understands none.
	if _, crit := t.Header["crit"]; crit {
		return nil, errCrit
	}
	if fam == famHMAC || !v.anyKid {
		return cands, nil
	}
	kv, has := t.Header["kid"]
	if !has {
		return cands, nil
	}
	kid, ok := kv.(string)
	if !ok {
		return nil, errKidType
	}
	if kid == "" {
		return cands, nil
	}
	k := v.byKid[kid]
	if k == nil {
		return nil, errUnknownKey
	}
	if !k.fits(alg) {
		return nil, errAlgKey
	}
	return k.key, nil
}

// failure maps a golang-jwt error to a reason class. golang-jwt reports an
// alg outside the allow-list as ErrTokenSignatureInvalid, so that case is
// told apart by the token's method.
func (v *Verifier) failure(t *jwt.Token, err error) *verify.Failure {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return verify.Fail(verify.ReasonMalformedToken, "not a JWS compact token with a JSON header and payload")
	case errors.Is(err, errKidType):
		return verify.Fail(verify.ReasonMalformedToken, "kid is not a string")
	case errors.Is(err, errCrit):
		return verify.Fail(verify.ReasonMalformedToken, "crit header extensions are not supported")
	case errors.Is(err, errUnknownKey):
		return verify.Fail(verify.ReasonUnknownKey, "kid names no configured key")
	case errors.Is(err, errAlgKey):
		return verify.Fail(verify.ReasonAlgNotAllowed, "alg "+t.Method.Alg()+" does not fit the key its kid names")
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// From the parse, before any key: alg missing or unknown.
		if t != nil {
			if _, ok := t.Header["alg"].(string); ok {
				return verify.Fail(verify.ReasonAlgNotAllowed, "unknown alg")
			}
		}
		return verify.Fail(verify.ReasonMalformedToken, "no alg in the header")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		if t != nil && t.Method != nil {
			if _, ok := v.byAlg[t.Method.Alg()]; !ok {
				return verify.Fail(verify.ReasonAlgNotAllowed, "alg "+t.Method.Alg()+" is not allowed")
			}
		}
		return verify.Fail(verify.ReasonInvalidSignature, "signature does not verify")
	}
	return verify.Fail(verify.ReasonMalformedToken, "token could not be parsed")
}

// rawClaims is the claims type handed to golang-jwt. It only keeps the
// payload's JSON: the claims are decoded once, after the signature has
// verified (a forged token costs no map), and the time claims are read by
// checkTimes, not by golang-jwt.
type rawClaims struct{ raw []byte }

// UnmarshalJSON keeps a copy of the payload object (encoding/json has
// already checked that it is valid JSON). The copy is needed because
// encoding/json does not promise that data outlives the call.
func (c *rawClaims) UnmarshalJSON(data []byte) error {
	c.raw = bytes.Clone(data)
	return nil
}

// The jwt.Claims methods are never called: the parser runs with
// WithoutClaimsValidation.
func (c *rawClaims) GetExpirationTime() (*jwt.NumericDate, error) { return nil, nil }
func (c *rawClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return nil, nil }
func (c *rawClaims) GetNotBefore() (*jwt.NumericDate, error)      { return nil, nil }
func (c *rawClaims) GetIssuer() (string, error)                   { return "", nil }
func (c *rawClaims) GetSubject() (string, error)                  { return "", nil }
func (c *rawClaims) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }

// decodeClaims decodes the verified payload with UseNumber, so that ids and
// amounts keep every digit.
func decodeClaims(raw []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("payload is null")
	}
	return m, nil
}

// signedPayload returns the payload bytes exactly as signed. encoding/json
// hands UnmarshalJSON the object without the whitespace around it; only in
// that rare case is the payload segment decoded again.
func signedPayload(tok string, obj []byte) []byte {
	_, rest, _ := strings.Cut(tok, ".")
	seg, _, _ := strings.Cut(rest, ".")
	if base64.RawURLEncoding.DecodedLen(len(seg)) == len(obj) {
		return obj
	}
	if b, err := base64.RawURLEncoding.Strict().DecodeString(seg); err == nil {
		return b
	}
	return obj
}

func (s *source) describe() string {
	switch s.kind {
	case kindForm:
		return "form field " + s.name
	case kindJSON:
		return "JSON field " + s.name
	case kindQuery:
		return "query parameter " + s.name
	}
	return "header " + s.name
}
