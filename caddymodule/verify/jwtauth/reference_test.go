package jwtauth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
	"github.com/golang-jwt/jwt/v5"
)

// refVerifier is Verify as it was when golang-jwt's Parser split and decoded
// the token (header and claims into maps): the reference the lean Verify is
// held to, reason for reason and detail for detail. Its code is the former
// verify.go and times.go, kept apart from the package's.
type refVerifier struct {
	v      *Verifier
	parser *jwt.Parser
}

func newRefVerifier(v *Verifier) *refVerifier {
	return &refVerifier{v: v, parser: jwt.NewParser(
		jwt.WithValidMethods(v.algs),
		jwt.WithoutClaimsValidation(),
		jwt.WithJSONNumber(),
		jwt.WithStrictDecoding(),
	)}
}

var (
	refErrAlgKey     = errors.New("alg does not fit the key")
	refErrUnknownKey = errors.New("kid names no configured key")
	refErrKidType    = errors.New("kid is not a string")
	refErrCrit       = errors.New("crit header present")
)

func (r *refVerifier) Verify(in *verify.Input, out *verify.Output) error {
	v := r.v
	tok, st, src := v.extract(in.Request, in.Body)
	switch st {
	case absent:
		return verify.Fail(verify.ReasonMissingToken, v.missingMsg)
	case ambiguous:
		return verify.Fail(verify.ReasonMalformedToken, "more than one token, or an undecodable one, in "+src.describe())
	}
	claims := jwt.MapClaims{}
	t, err := r.parser.ParseWithClaims(tok, claims, r.keyFor)
	if err != nil {
		return r.failure(t, err)
	}
	raw, ok := refSignedPayload(tok)
	if !ok {
		return verify.Fail(verify.ReasonMalformedToken, "payload is not one JSON object")
	}
	now := in.Now
	if now.IsZero() {
		now = time.Now()
	}
	if f := refCheckTimes(v, claims, now); f != nil {
		return f
	}
	out.ClaimsJSON = raw
	return nil
}

func (r *refVerifier) keyFor(t *jwt.Token) (any, error) {
	v := r.v
	alg := t.Method.Alg()
	cands, allowed := v.byAlg[alg]
	if !allowed {
		return nil, refErrAlgKey
	}
	fam := algFamilies[alg]
	switch t.Method.(type) {
	case *jwt.SigningMethodHMAC:
		if fam != famHMAC {
			return nil, refErrAlgKey
		}
	case *jwt.SigningMethodRSA, *jwt.SigningMethodRSAPSS:
		if fam != famRSA {
			return nil, refErrAlgKey
		}
	case *jwt.SigningMethodECDSA:
		if fam != famEC {
			return nil, refErrAlgKey
		}
	default:
		return nil, refErrAlgKey
	}
	if _, crit := t.Header["crit"]; crit {
		return nil, refErrCrit
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
		return nil, refErrKidType
	}
	if kid == "" {
		return cands, nil
	}
	k := v.byKid[kid]
	if k == nil {
		return nil, refErrUnknownKey
	}
	if !k.fits(alg) {
		return nil, refErrAlgKey
	}
	return k.key, nil
}

func (r *refVerifier) failure(t *jwt.Token, err error) *verify.Failure {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return verify.Fail(verify.ReasonMalformedToken, "not a JWS compact token with a JSON header and payload")
	case errors.Is(err, refErrKidType):
		return verify.Fail(verify.ReasonMalformedToken, "kid is not a string")
	case errors.Is(err, refErrCrit):
		return verify.Fail(verify.ReasonMalformedToken, "crit header extensions are not supported")
	case errors.Is(err, refErrUnknownKey):
		return verify.Fail(verify.ReasonUnknownKey, "kid names no configured key")
	case errors.Is(err, refErrAlgKey):
		return verify.Fail(verify.ReasonAlgNotAllowed, "alg "+t.Method.Alg()+" does not fit the key its kid names")
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		if t != nil {
			if _, ok := t.Header["alg"].(string); ok {
				return verify.Fail(verify.ReasonAlgNotAllowed, "unknown alg")
			}
		}
		return verify.Fail(verify.ReasonMalformedToken, "no alg in the header")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		if t != nil && t.Method != nil {
			if _, ok := r.v.byAlg[t.Method.Alg()]; !ok {
				return verify.Fail(verify.ReasonAlgNotAllowed, "alg "+t.Method.Alg()+" is not allowed")
			}
		}
		return verify.Fail(verify.ReasonInvalidSignature, "signature does not verify")
	}
	return verify.Fail(verify.ReasonMalformedToken, "token could not be parsed")
}

func refSignedPayload(tok string) ([]byte, bool) {
	_, rest, _ := strings.Cut(tok, ".")
	seg, _, _ := strings.Cut(rest, ".")
	b, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil || !isJSONObject(b) {
		return nil, false
	}
	return b, true
}

func refCheckTimes(v *Verifier, m map[string]any, now time.Time) *verify.Failure {
	iat, hasIat, err := refClaimNumber(m, "iat", true)
	if err != nil {
		return verify.Fail(verify.ReasonInvalidClaims, "iat is neither a number nor a string of digits")
	}
	exp, hasExp, err := refClaimNumber(m, "exp", false)
	if err != nil {
		return verify.Fail(verify.ReasonInvalidClaims, "exp is not a number")
	}
	nbf, hasNbf, err := refClaimNumber(m, "nbf", false)
	if err != nil {
		return verify.Fail(verify.ReasonInvalidClaims, "nbf is not a number")
	}
	var issued time.Time
	iatMs := hasIat && iat.f > msThreshold
	if hasIat {
		issued = iat.at(iatMs)
	}
	if hasExp {
		var expiry time.Time
		if iatMs && exp.f >= 0 && exp.f < relativeThreshold {
			expiry = issued.Add(exp.millis())
		} else {
			expiry = exp.at(exp.f > msThreshold)
		}
		if now.After(expiry.Add(v.leeway)) {
			return verify.Fail(verify.ReasonTokenExpired, "exp has passed")
		}
	}
	if hasNbf && now.Before(nbf.at(nbf.f > msThreshold).Add(-v.leeway)) {
		return verify.Fail(verify.ReasonTokenNotYetValid, "nbf is in the future")
	}
	if hasIat && issued.After(now.Add(v.leeway)) {
		return verify.Fail(verify.ReasonTokenIssuedInFuture, "iat is in the future")
	}
	if v.maxAge > 0 {
		if !hasIat {
			return verify.Fail(verify.ReasonTokenTooOld, "max_age is set and the token has no iat")
		}
		if now.After(issued.Add(v.maxAge).Add(v.leeway)) {
			return verify.Fail(verify.ReasonTokenTooOld, "iat is older than max_age")
		}
	}
	return nil
}

func refClaimNumber(m map[string]any, name string, digitString bool) (number, bool, error) {
	val, has := m[name]
	if !has {
		return number{}, false, nil
	}
	var s string
	switch x := val.(type) {
	case json.Number:
		s = string(x)
	case string:
		if !digitString || !isDigits(x) {
			return number{}, true, errClaimType
		}
		s = x
	default:
		return number{}, true, errClaimType
	}
	n, ok := parseNumber(s)
	if !ok {
		return number{}, true, errClaimType
	}
	return n, true, nil
}

// refConfigs are the configurations both verifiers are compared under: keys
// with ids and secrets, RSA only, keys without ids, a restricted allow-list,
// and max_age.
func refConfigs(tb testing.TB) []*Verifier {
	k := testKeys()
	noIDs := Config{
		Keys:    []Key{{Key: &k.rsa1.PublicKey}, {Key: &k.rsa2.PublicKey}, {Key: &k.ec256.PublicKey}},
		Secrets: [][]byte{k.secret1},
		Leeway:  time.Minute,
	}
	restricted := cfgMixed()
	restricted.Algs = []string{"RS256", "ES256", "HS256"}
	restricted.Keys = restricted.Keys[:1:1]
	restricted.Keys = append(restricted.Keys, Key{ID: "e1", Key: &k.ec256.PublicKey})
	aged := cfgMixed()
	aged.MaxAge = 10 * time.Minute
	aged.Leeway = 0
	return []*Verifier{mustNew(tb, cfgMixed()), mustNew(tb, cfgRSA()), mustNew(tb, noIDs), mustNew(tb, restricted), mustNew(tb, aged)}
}

// compareWithReference verifies tok with both verifiers of every
// configuration and fails on any difference in outcome, detail or claims.
// It counts the outcomes in seen, when not nil.
func compareWithReference(t *testing.T, vs []*Verifier, tok string, seen map[verify.Reason]int) {
	t.Helper()
	for i, v := range vs {
		ref := newRefVerifier(v)
		r1, _ := bearer(t, tok)
		r2, _ := bearer(t, tok)
		got, want := &verify.Output{}, &verify.Output{}
		gotErr := v.Verify(&verify.Input{Request: r1, Now: testNow}, got)
		wantErr := ref.Verify(&verify.Input{Request: r2, Now: testNow}, want)
		if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
			t.Fatalf("config #%d, token %q:\n got  %v\n want %v", i, tok, gotErr, wantErr)
		}
		if !bytes.Equal(got.ClaimsJSON, want.ClaimsJSON) || (got.ClaimsJSON == nil) != (want.ClaimsJSON == nil) {
			t.Fatalf("config #%d, token %q: ClaimsJSON %q, want %q", i, tok, got.ClaimsJSON, want.ClaimsJSON)
		}
		if seen != nil {
			seen[reasonOf(t, gotErr)]++
		}
	}
}

// refToken builds a token from a header and a payload, signed according to
// how, and then altered according to tamper: the fuzzer varies every part.
func refToken(tb testing.TB, header, payload string, how, tamper uint8) string {
	k := testKeys()
	input := b64(header) + "." + b64(payload)
	var sig []byte
	signWith := func(alg string, key any) {
		s, err := jwt.GetSigningMethod(alg).Sign(input, key)
		if err != nil {
			tb.Fatalf("sign %s: %v", alg, err)
		}
		sig = s
	}
	switch how % 12 {
	case 0:
		signWith("HS256", k.secret1)
	case 1:
		signWith("HS384", k.secret2)
	case 2:
		signWith("HS512", k.secret1)
	case 3:
		signWith("HS256", []byte("guessed"))
	case 4:
		signWith("HS256", k.rsa1PEM)
	case 5:
		signWith("ES256", k.ec256)
	case 6:
		signWith("ES384", k.ec384)
	case 7:
		signWith("RS256", k.rsa1)
	case 8:
		signWith("PS256", k.rsa2)
	case 9:
		signWith("RS256", k.attacker)
	case 10:
		sig = []byte("sig")
	case 11: // no signature
	}
	tok := input + "." + base64.RawURLEncoding.EncodeToString(sig)
	switch tamper % 8 {
	case 1: // a bit of the signature flipped
		if len(sig) > 0 {
			sig[len(sig)/2] ^= 1
			tok = input + "." + base64.RawURLEncoding.EncodeToString(sig)
		}
	case 2: // non-canonical padding bits in the last character
		last := strings.IndexByte(base64URLAlphabet, tok[len(tok)-1])
		if last >= 0 {
			tok = tok[:len(tok)-1] + string(base64URLAlphabet[last|1])
		}
	case 3:
		tok += ".x"
	case 4: // padded base64 header
		tok = base64.URLEncoding.EncodeToString([]byte(header)) + tok[strings.IndexByte(tok, '.'):]
	case 5: // a line break inside the payload segment, which base64 skips
		if i := strings.IndexByte(tok, '.'); i+2 < len(tok) {
			tok = tok[:i+2] + "\n" + tok[i+2:]
		}
	}
	return tok
}

var refHeaders = []string{
	`{"alg":"HS256"}`, `{"alg":"RS256","kid":"k1"}`, `{"alg":"ES256","kid":"e1"}`, `{"alg":"PS256","kid":"k2"}`,
	`{"alg":"none"}`, `{"alg":"NONE"}`, `{"alg":"EdDSA"}`, `{"alg":256}`, `{"kid":"k1"}`, `null`, `[1]`, `"RS256"`, ``,
	`{"alg":"RS256","kid":7}`, `{"alg":"RS256","kid":null}`, `{"alg":"RS256","kid":""}`, `{"alg":"RS256","kid":"k9"}`,
	`{"alg":"RS256","kid":"e1"}`, `{"alg":"ES256","kid":"k1"}`, `{"alg":"HS256","kid":7}`, `{"alg":"RS256","crit":null}`,
	`{"alg":"RS256","kid":"k1","crit":["b64"],"b64":false}`, `{"alg":"RS\u0032\u00356","kid":"k\u0031"}`,
	`{"alg":"HS256","alg":"RS256","kid":"k1"}`, `{"alg":"RS256","alg":null}`, `{"alg":"RS256"} x`, ` {"alg":"ES384"} `,
	`{"\u0061lg":"HS512","k\u0069d":1}`, `{"alg":"RS256\u0000"}`, "{\"alg\":\"RS256\xff\"}", `{"alg":"HS256","jwk":{"kty":"oct"}}`,
	`{"alg":"RS256","kid":"k1","kid":"k2"}`, `{"alg":"RS256","kid":["k1"]}`, `{"alg":"HS384","crit":[]}`,
}

var refPayloads = []string{
	freshClaims(), `{}`, `null`, `nullx`, `[1,2]`, `"x"`, `1`, `true`, ``, ` `, `{"exp":`, `{"a":1} {"b":2}`, `{"a":1}x`,
	`{"a":1} `, "\t{\"iat\":1}\n", `{"exp":1e400}`, `{"exp":-1e400}`, `{"exp":1.5}`, `{"exp":-0}`, `{"exp":"1"}`,
	`{"exp":null}`, `{"exp":true}`, `{"exp":{}}`, `{"exp":[]}`, `{"nbf":"1"}`, `{"iat":"x"}`, `{"iat":""}`, `{"iat":"-1"}`,
	`{"iat":"\u0031\u0036\u0033"}`, `{"iat":"１２"}`, `{"iat":"0` + itoa(testNow.UnixMilli()) + `"}`,
	`{"iat":"` + itoa(testNow.UnixMilli()-5000) + `","exp":300000}`, `{"iat":` + itoa(testNow.UnixMilli()-5000) + `,"exp":300000}`,
	`{"iat":"` + itoa(testNow.UnixMilli()-600000) + `","exp":300000}`, `{"exp":` + itoa(testNow.Unix()-1) + `}`,
	`{"exp":` + itoa(testNow.Unix()+1) + `,"exp":1}`, `{"exp":1,"exp":` + itoa(testNow.Unix()+1) + `}`,
	`{"nbf":` + itoa(testNow.Unix()+61) + `}`, `{"iat":` + itoa(testNow.Unix()+61) + `}`, `{"iat":1,"exp":2}`,
	`{"e\u0078p":1}`, `{"a":{"exp":1}}`, `{"iat":"99999999999999999999999"}`, `{"exp":123456789012345678901234567890}`,
	"{\"sub\":\"\xff\",\"iat\":" + itoa(testNow.Unix()) + "}",
}

func payloadDeep(n int) string {
	return `{"a":` + strings.Repeat("[", n-1) + strings.Repeat("]", n-1) + `}`
}

// TestVerifyMatchesReference runs the corpus through both verifiers: every
// header with every payload, signed with each kind of key (RSA signing, slow,
// only for the headers that name an RSA alg), then the alterations.
func TestVerifyMatchesReference(t *testing.T) {
	vs := refConfigs(t)
	seen := map[verify.Reason]int{}
	for _, h := range refHeaders {
		hows := []uint8{0, 1, 3, 4, 5, 6, 10, 11}
		switch {
		case strings.Contains(h, `"RS`):
			hows = append(hows, 7, 9)
		case strings.Contains(h, `"PS`):
			hows = append(hows, 8)
		}
		for i, p := range refPayloads {
			for _, how := range hows {
				if how >= 7 && how <= 9 && (i >= 16 || testing.Short()) {
					continue // RSA signing is slow: the first payloads suffice
				}
				compareWithReference(t, vs, refToken(t, h, p, how, 0), seen)
			}
		}
	}
	// Nesting at encoding/json's limit, which is slow to decode.
	for _, p := range []string{payloadDeep(10000), payloadDeep(10001), payloadDeep(10001)[:20000]} {
		compareWithReference(t, vs, refToken(t, `{"alg":"HS256"}`, p, 0, 0), seen)
		compareWithReference(t, vs, refToken(t, `{"alg":"RS256","kid":"k1"}`, p, 7, 0), seen)
	}
	for _, tamper := range []uint8{1, 2, 3, 4, 5} {
		for _, how := range []uint8{0, 5, 7, 10, 11} {
			compareWithReference(t, vs, refToken(t, `{"alg":"RS256","kid":"k1"}`, freshClaims(), how, tamper), seen)
			compareWithReference(t, vs, refToken(t, `{"alg":"HS256"}`, `{"a":1} x`, how, tamper), seen)
		}
	}
	for _, raw := range []string{"", "a", "a.b", "a.b.c", "..", "...", "a.b.c.d", "!!!.e30.", "e30.e30.", "bnVsbA.e30.", "e30.bnVsbA.",
		b64(`{"alg":"RSA-OAEP","enc":"A256GCM"}`) + ".a.b.c.d"} {
		compareWithReference(t, vs, raw, seen)
	}
	// The corpus reaches every outcome a token can have.
	t.Logf("outcomes: %v", seen)
	for _, r := range append(verify.Reasons, "") {
		switch r {
		case verify.ReasonMissingCredentials, verify.ReasonInvalidCredentials, verify.ReasonMissingSignature,
			verify.ReasonTimestampOutOfTolerance:
			continue // not jwt's
		}
		if seen[r] == 0 {
			t.Errorf("the corpus never yields %q", orOK(r))
		}
	}
}

// FuzzVerifyMatchesReference: any header, payload, signing key and
// alteration, and any raw token, get the same outcome, detail and claims
// from Verify as from the golang-jwt Parser it replaced.
func FuzzVerifyMatchesReference(f *testing.F) {
	for i, h := range refHeaders {
		for j, p := range refPayloads {
			if (i+j)%5 == 0 {
				f.Add(h, p, uint8(i+j), uint8(j%8), "")
			}
		}
	}
	f.Add("", "", uint8(0), uint8(0), "a.b.c")
	f.Add("", "", uint8(0), uint8(0), "e30.e30.")
	f.Fuzz(func(t *testing.T, header, payload string, how, tamper uint8, raw string) {
		vs := fuzzRefConfigs(t)
		tok := raw
		if raw == "" {
			tok = refToken(t, header, payload, how, tamper)
		}
		compareWithReference(t, vs, tok, nil)
	})
}

var fuzzRefVerifiers []*Verifier

func fuzzRefConfigs(tb testing.TB) []*Verifier {
	if fuzzRefVerifiers == nil {
		fuzzRefVerifiers = refConfigs(tb)
	}
	return fuzzRefVerifiers
}
