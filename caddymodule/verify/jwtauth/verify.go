package jwtauth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
	"unsafe"

	"github.com/callbackguard/callbackguard/caddymodule/jsonscan"
	"github.com/callbackguard/callbackguard/caddymodule/verify"
	"github.com/golang-jwt/jwt/v5"
)

var _ verify.Verifier = (*Verifier)(nil)

// segmentEncoding decodes the three segments: base64url without padding,
// strict, so that non-zero padding bits are refused and one signature has one
// encoding (a token cannot be varied without re-signing). Like every decoder
// of encoding/base64 it skips '\r' and '\n'.
var segmentEncoding = base64.RawURLEncoding.Strict()

// The header fields and the claims Verify reads, each set in one pass over its
// segment with jsonscan, which follows encoding/json's map decoding: the last
// of duplicate keys wins, keys match on their unescaped text.
var (
	headerFields = [...][]string{{"alg"}, {"kid"}, {"crit"}}
	timeClaims   = [...][]string{{"iat"}, {"exp"}, {"nbf"}}
)

// Indexes into the raw values of headerFields and timeClaims.
const (
	hdrAlg = iota
	hdrKid
	hdrCrit
)

const (
	claimIat = iota
	claimExp
	claimNbf
)

// malformed is the failure of a token that is not three segments of strict
// base64url with a JSON object header and a JSON object payload.
func malformed() *verify.Failure {
	return verify.Fail(verify.ReasonMalformedToken, "not a JWS compact token with a JSON header and payload")
}

// Verify finds the token, verifies its signature and checks its time claims
// against in.Now. On success it sets out.ClaimsJSON to the payload exactly as
// signed (a buffer of its own, which the caller may keep); templates read
// claims from it. A failure's detail names what went
// wrong but never holds the token, a secret, a kid or a claim value.
//
// The checks run in this order, which decides the reason when a token has
// several faults (it is the order golang-jwt's Parser, which Verify used to
// call, runs them in):
//
//  1. three segments; the header strict base64url and one JSON object (or
//     null, which then holds no alg); the payload strict base64url whose
//     first JSON value is an object or null (malformed_token);
//  2. alg: a string (malformed_token), of a signing method golang-jwt knows
//     (alg_not_allowed); the signature strict base64url (malformed_token);
//     alg in the allow-list (alg_not_allowed);
//  3. the key (see below): a method of the alg's family, no crit header, kid
//     a string naming a key that fits the alg;
//  4. the signature, by golang-jwt's signing method (invalid_signature);
//  5. the payload exactly one JSON object and nothing else (malformed_token);
//  6. the time claims (checkTimes).
//
// Choosing the key reads only the configured keys: the jwk, jku, x5u and x5c
// headers are never read.
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
func (v *Verifier) Verify(in *verify.Input, out *verify.Output) error {
	tok, st, src := v.extract(in.Request, in.Body)
	switch st {
	case absent:
		return verify.Fail(verify.ReasonMissingToken, v.missingMsg)
	case ambiguous:
		return verify.Fail(verify.ReasonMalformedToken, "more than one token, or an undecodable one, in "+src.describe())
	}

	// 1. Exactly three segments (a JWE has five).
	h64, rest, ok1 := strings.Cut(tok, ".")
	p64, s64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.IndexByte(s64, '.') >= 0 {
		return malformed()
	}
	// The header and the signature share one scratch buffer, dropped on
	// return; the payload gets one of its own, which becomes ClaimsJSON.
	hlen := segmentEncoding.DecodedLen(len(h64))
	scratch := make([]byte, hlen+segmentEncoding.DecodedLen(len(s64)))
	hdr, ok := decodeSegment(scratch[:hlen], h64)
	if !ok {
		return malformed()
	}
	// golang-jwt decoded the header with json.Unmarshal into a map: one
	// valid JSON value, an object or null (a nil map, without alg).
	var hf [len(headerFields)][]byte
	if !jsonscan.LookupAllRaw(hdr, headerFields[:], hf[:]) {
		return malformed()
	}
	if c := firstByte(hdr); c != '{' && c != 'n' {
		return malformed()
	}
	payload, ok := decodeSegment(make([]byte, segmentEncoding.DecodedLen(len(p64))), p64)
	if !ok {
		return malformed()
	}
	var claims [len(timeClaims)][]byte
	object := jsonscan.LookupAllRaw(payload, timeClaims[:], claims[:]) && firstByte(payload) == '{'
	if !object && !decodesAsClaims(payload) {
		return malformed()
	}

	// 2. The algorithm.
	algRaw := hf[hdrAlg]
	if len(algRaw) == 0 || algRaw[0] != '"' {
		return verify.Fail(verify.ReasonMalformedToken, "no alg in the header")
	}
	m := jwt.GetSigningMethod(string(stringValue(algRaw)))
	if m == nil {
		return verify.Fail(verify.ReasonAlgNotAllowed, "unknown alg")
	}
	sig, ok := decodeSegment(scratch[hlen:], s64)
	if !ok {
		return malformed()
	}
	alg := m.Alg()
	cands, allowed := v.byAlg[alg]
	if !allowed {
		return verify.Fail(verify.ReasonAlgNotAllowed, "alg "+alg+" is not allowed")
	}

	// 3. The key. The method's type is asserted as well as its name, so
	// that an HMAC method never receives a public key and no method
	// registered under a familiar name can slip through.
	fam := algFamilies[alg]
	if !methodIs(m, fam) {
		return algKeyMismatch(alg)
	}
	// RFC 7515 §4.1.11: a recipient must refuse extensions it does not
	// understand; this one understands none.
	if hf[hdrCrit] != nil {
		return verify.Fail(verify.ReasonMalformedToken, "crit header extensions are not supported")
	}
	if kidRaw := hf[hdrKid]; kidRaw != nil && fam != famHMAC && v.anyKid {
		if kidRaw[0] != '"' {
			return verify.Fail(verify.ReasonMalformedToken, "kid is not a string")
		}
		if kid := stringValue(kidRaw); len(kid) > 0 {
			k := v.byKid[string(kid)]
			if k == nil {
				return verify.Fail(verify.ReasonUnknownKey, "kid names no configured key")
			}
			if !k.fits(alg) {
				return algKeyMismatch(alg)
			}
			cands = k.key
		}
	}

	// 4. The signature, over the first two segments as sent.
	if !verifySignature(m, tok[:len(h64)+1+len(p64)], sig, cands) {
		return verify.Fail(verify.ReasonInvalidSignature, "signature does not verify")
	}

	// 5. golang-jwt read only the payload's first value; the whole of it
	// must be that object ("null", or an object followed by more text, is
	// not claims).
	if !object {
		return verify.Fail(verify.ReasonMalformedToken, "payload is not one JSON object")
	}

	// 6. The time claims.
	now := in.Now
	if now.IsZero() {
		now = time.Now()
	}
	if f := v.checkTimes(&claims, now); f != nil {
		return f
	}

	out.ClaimsJSON = payload
	return nil
}

func algKeyMismatch(alg string) *verify.Failure {
	return verify.Fail(verify.ReasonAlgNotAllowed, "alg "+alg+" does not fit the key its kid names")
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

// verifySignature runs the signing method with each candidate key (one key,
// or a jwt.VerificationKeySet of alternatives) until one verifies.
func verifySignature(m jwt.SigningMethod, signingString string, sig []byte, cands any) bool {
	set, ok := cands.(jwt.VerificationKeySet)
	if !ok {
		return m.Verify(signingString, sig, cands) == nil
	}
	for _, key := range set.Keys {
		if m.Verify(signingString, sig, key) == nil {
			return true
		}
	}
	return false
}

// decodeSegment decodes a base64url segment into dst, which must be at least
// segmentEncoding.DecodedLen(len(seg)) long, and returns the decoded bytes
// (capacity clipped).
func decodeSegment(dst []byte, seg string) ([]byte, bool) {
	// A read-only view of seg: Decode only reads its source.
	src := unsafe.Slice(unsafe.StringData(seg), len(seg))
	n, err := segmentEncoding.Decode(dst, src)
	if err != nil {
		return nil, false
	}
	return dst[:n:n], true
}

// firstByte is the first byte of b that is not JSON whitespace, 0 if none.
func firstByte(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
		default:
			return c
		}
	}
	return 0
}

// decodesAsClaims reports whether golang-jwt's Parser decoded payload into its
// claims map without error: a json.Decoder (with UseNumber) reads the first
// JSON value, ignoring what follows, and it must be an object or null. It is
// asked only of a payload that is not exactly one object, so it runs
// encoding/json itself, to agree with it by construction.
func decodesAsClaims(payload []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var m map[string]any
	return dec.Decode(&m) == nil
}

// stringValue is the content of a JSON string literal that jsonscan has
// validated, decoded as encoding/json decodes it. A literal without escapes
// and non-ASCII bytes (alg, kid and PayGlocal's iat always) is its own
// content, returned in place; any other goes through encoding/json, which
// joins surrogate pairs and replaces invalid UTF-8 with U+FFFD.
func stringValue(lit []byte) []byte {
	body := lit[1 : len(lit)-1]
	for _, c := range body {
		if c == '\\' || c >= 0x80 {
			var s string
			if json.Unmarshal(lit, &s) != nil {
				return nil // not reached: jsonscan validated the literal
			}
			return []byte(s)
		}
	}
	return body
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
