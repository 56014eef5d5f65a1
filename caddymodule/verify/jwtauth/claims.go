package jwtauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/tidwall/gjson"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
)

// The thresholds that tell the units of a time claim apart. 10^12 seconds
// is the year 33658 and 10^12 milliseconds September 2001, so a value above
// it is milliseconds; 10^9 seconds is September 2001 too, so an exp below it
// next to an iat in milliseconds is a lifetime, not a date (PayGlocal sends
// "exp": 300000, five minutes).
const (
	msThreshold       = 1e12
	relativeThreshold = 1e9
	// claimLimit bounds every claim value before it becomes a time.Time,
	// so that no conversion overflows. In seconds it is 31 million years,
	// in milliseconds 31 thousand: far enough to mean "never" or "always".
	claimLimit = 1e15
)

// claims is a token's payload: its JSON text as signed, for the templates
// and the backend, and its time claims read by PayGlocal's rules, which
// golang-jwt's own validation misreads (with RegisteredClaims a string iat
// of milliseconds is read as seconds, and "exp": 300000 as 1970). The
// Parser runs WithoutClaimsValidation; Verify calls check.
type claims struct {
	json          []byte
	iat, exp, nbf *jwt.NumericDate // nil when absent
	// typeErr names a time claim of the wrong type. It is reported by check,
	// after the signature, so that a forger learns nothing from it.
	typeErr string
}

// UnmarshalJSON reads the payload, which must be one JSON object. The
// Parser's json.Unmarshal has checked that the whole payload is valid JSON
// and hands over the object, which gjson then walks without decoding it
// again; of duplicate keys the last wins, as with encoding/json.
func (c *claims) UnmarshalJSON(b []byte) error {
	obj := gjson.ParseBytes(b)
	if !obj.IsObject() {
		return errors.New("payload is not a JSON object")
	}
	var raw [3]string // iat, exp, nbf
	obj.ForEach(func(key, val gjson.Result) bool {
		switch key.Str {
		case "iat":
			raw[0] = val.Raw
		case "exp":
			raw[1] = val.Raw
		case "nbf":
			raw[2] = val.Raw
		}
		return true
	})
	c.json = bytes.Clone(b)
	iat, err := timeClaim(raw[0], true)
	if err != nil {
		c.typeErr = "iat is neither a number nor a string of digits"
		return nil
	}
	exp, err := timeClaim(raw[1], false)
	if err != nil {
		c.typeErr = "exp is not a number"
		return nil
	}
	nbf, err := timeClaim(raw[2], false)
	if err != nil {
		c.typeErr = "nbf is not a number"
		return nil
	}
	iatMs := iat != nil && iat.f > msThreshold
	if iat != nil {
		c.iat = &jwt.NumericDate{Time: iat.at(iatMs)}
	}
	if exp != nil {
		if iatMs && exp.f >= 0 && exp.f < relativeThreshold {
			// A lifetime in milliseconds after iat. A negative exp is not
			// read as one: it is a date before 1970, long expired.
			c.exp = &jwt.NumericDate{Time: c.iat.Add(exp.millis())}
		} else {
			c.exp = &jwt.NumericDate{Time: exp.at(exp.f > msThreshold)}
		}
	}
	if nbf != nil {
		c.nbf = &jwt.NumericDate{Time: nbf.at(nbf.f > msThreshold)}
	}
	return nil
}

// check enforces exp, nbf, iat and max_age at now. Bounds are inclusive: a
// token is fresh at exactly exp + leeway, valid at exactly nbf - leeway,
// and not too old at exactly iat + max_age + leeway.
func (c *claims) check(now time.Time, leeway, maxAge time.Duration) *verify.Failure {
	switch {
	case c.typeErr != "":
		return verify.Fail(verify.ReasonInvalidClaims, c.typeErr)
	case c.exp != nil && now.After(c.exp.Add(leeway)):
		return verify.Fail(verify.ReasonTokenExpired, "exp has passed")
	case c.nbf != nil && now.Before(c.nbf.Add(-leeway)):
		return verify.Fail(verify.ReasonTokenNotYetValid, "nbf is in the future")
	case c.iat != nil && c.iat.After(now.Add(leeway)):
		return verify.Fail(verify.ReasonTokenIssuedInFuture, "iat is in the future")
	case maxAge > 0 && c.iat == nil:
		return verify.Fail(verify.ReasonTokenTooOld, "max_age is set and the token has no iat")
	case maxAge > 0 && now.After(c.iat.Add(maxAge).Add(leeway)):
		return verify.Fail(verify.ReasonTokenTooOld, "iat is older than max_age")
	}
	return nil
}

// The jwt.Claims interface: the time claims as the rules above read them.
// The guard checks no issuer, subject or audience.

func (c *claims) GetExpirationTime() (*jwt.NumericDate, error) { return c.exp, nil }
func (c *claims) GetNotBefore() (*jwt.NumericDate, error)      { return c.nbf, nil }
func (c *claims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.iat, nil }
func (c *claims) GetIssuer() (string, error)                   { return "", nil }
func (c *claims) GetSubject() (string, error)                  { return "", nil }
func (c *claims) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }

// number is a time claim's value: exact when it is an integer, and as a
// float for the unit thresholds and for fractions (RFC 7519 NumericDate
// allows them).
type number struct {
	f     float64
	i     int64
	isInt bool
}

var errClaimType = errors.New("wrong type for a time claim")

// timeClaim reads a time claim from its JSON text, nil when absent. A JSON
// number is read from its literal; digitString admits a string of ASCII
// digits (iat only: PayGlocal's form), decoded by encoding/json. Any other
// type (a string, a boolean, null, an object, an array) is errClaimType.
func timeClaim(raw string, digitString bool) (*number, error) {
	if raw == "" {
		return nil, nil
	}
	text := raw
	switch c := raw[0]; {
	case c == '-' || '0' <= c && c <= '9':
	case c == '"' && digitString:
		if json.Unmarshal([]byte(raw), &text) != nil || !isDigits(text) {
			return nil, errClaimType
		}
	default:
		return nil, errClaimType
	}
	n, ok := parseNumber(text)
	if !ok {
		return nil, errClaimType
	}
	return &n, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseNumber parses a JSON number (or a digit string), clamped to
// ±claimLimit.
func parseNumber(s string) (number, bool) {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		i = min(max(i, -claimLimit), claimLimit)
		return number{f: float64(i), i: i, isInt: true}, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return number{}, false
	}
	// ±Inf from an overflow clamps like any other large value.
	f = min(max(f, -claimLimit), claimLimit)
	if f == math.Trunc(f) {
		return number{f: f, i: int64(f), isInt: true}, true
	}
	return number{f: f}, true
}

// at is the instant the value names, in seconds or in milliseconds since
// the Unix epoch.
func (n number) at(ms bool) time.Time {
	if n.isInt {
		if ms {
			return time.UnixMilli(n.i)
		}
		return time.Unix(n.i, 0)
	}
	whole, frac := math.Modf(n.f)
	if ms {
		return time.UnixMilli(int64(whole)).Add(time.Duration(math.Round(frac * 1e6)))
	}
	return time.Unix(int64(whole), int64(math.Round(frac*1e9)))
}

// millis is the value as a duration in milliseconds; only called for
// values in [0, 10^9), which fit.
func (n number) millis() time.Duration {
	if n.isInt {
		return time.Duration(n.i) * time.Millisecond
	}
	return time.Duration(math.Round(n.f * 1e6))
}
