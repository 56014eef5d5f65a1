package jwtauth

import (
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
	"github.com/golang-jwt/jwt/v5"
)

var _ verify.Verifier = (*Verifier)(nil)

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

	claims := jwt.MapClaims{}
	t, err := v.parser.ParseWithClaims(tok, claims, v.keyFn)
	if err != nil {
		return v.failure(t, err)
	}
	raw, ok := signedPayload(tok)
	if !ok {
		return verify.Fail(verify.ReasonMalformedToken, "payload is not one JSON object")
	}

	now := in.Now
	if now.IsZero() {
		now = time.Now()
	}
	if f := v.checkTimes(claims, now); f != nil {
		return f
	}

	out.ClaimsJSON = raw
	out.Claims = claims
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

// signedPayload returns the payload bytes exactly as signed, and whether
// they are one JSON object and nothing else.
//
// golang-jwt decoded the payload into the MapClaims but keeps no bytes, so
// the segment is decoded from base64 again (~1 µs for PayGlocal's 1.4 KB
// payload). That is cheaper than the alternative of a claims type that
// captures the bytes through UnmarshalJSON: encoding/json then scans the
// payload twice more before the map can be decoded (~7 µs more, measured).
// (The map is thus decoded before the signature is checked: a forged token
// costs that decode, ~9 µs for PayGlocal's payload, about what those two
// scans cost, and far less than the RSA verify it also costs.)
//
// The object check is needed because golang-jwt's decoder stops after the
// first value: a payload of "null", or of an object followed by more text,
// would otherwise pass as claims.
func signedPayload(tok string) ([]byte, bool) {
	_, rest, _ := strings.Cut(tok, ".")
	seg, _, _ := strings.Cut(rest, ".")
	b, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil || !isJSONObject(b) {
		return nil, false
	}
	return b, true
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
