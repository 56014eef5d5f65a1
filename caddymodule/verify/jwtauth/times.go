package jwtauth

import (
	"errors"
	"math"
	"strconv"
	"time"

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

// checkTimes enforces exp, nbf, iat and max_age on the verified claims,
// given as the raw JSON text of each (nil when absent; see timeClaims).
//
// golang-jwt's own checks are not used: with MapClaims it ignores a string
// iat, with RegisteredClaims it reads PayGlocal's "1636980973327" as
// seconds, and it reads "exp": 300000 as 1970 (see NOTES.md).
//
// Bounds are inclusive: a token is fresh at exactly exp + leeway, valid at
// exactly nbf - leeway, and not too old at exactly iat + max_age + leeway.
func (v *Verifier) checkTimes(c *[len(timeClaims)][]byte, now time.Time) *verify.Failure {
	iat, hasIat, err := claimNumber(c[claimIat], true)
	if err != nil {
		return verify.Fail(verify.ReasonInvalidClaims, "iat is neither a number nor a string of digits")
	}
	exp, hasExp, err := claimNumber(c[claimExp], false)
	if err != nil {
		return verify.Fail(verify.ReasonInvalidClaims, "exp is not a number")
	}
	nbf, hasNbf, err := claimNumber(c[claimNbf], false)
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
			// A lifetime in milliseconds after iat. A negative exp is
			// not read as one: it is a date before 1970, long expired.
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

// number is a time claim's value: exact when it is an integer, and as a
// float for the unit thresholds and for fractions (RFC 7519 NumericDate
// allows them).
type number struct {
	f     float64
	i     int64
	isInt bool
}

var errClaimType = errors.New("wrong type for a time claim")

// claimNumber reads a time claim from its raw JSON text, nil when the claim
// is absent. A JSON number is read from its literal, which is what a
// json.Number decoded with UseNumber holds. digitString admits a string of
// ASCII digits (iat only: PayGlocal's form), read once unescaped as
// encoding/json would. Any other type (a string, a boolean, null, an object,
// an array) is errClaimType.
func claimNumber(raw []byte, digitString bool) (number, bool, error) {
	if raw == nil {
		return number{}, false, nil
	}
	switch c := raw[0]; {
	case c == '-' || '0' <= c && c <= '9':
	case c == '"' && digitString:
		raw = stringValue(raw)
		if !isDigits(raw) {
			return number{}, true, errClaimType
		}
	default:
		return number{}, true, errClaimType
	}
	n, ok := parseNumber(string(raw))
	if !ok {
		return number{}, true, errClaimType
	}
	return n, true, nil
}

func isDigits[T string | []byte](s T) bool {
	if len(s) == 0 {
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
