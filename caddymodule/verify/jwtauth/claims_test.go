package jwtauth

import (
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
)

// Each time rule at its exact boundary: the last accepted instant, and one
// millisecond later (or earlier) rejected. The tokens are HS256, since only
// the claims matter here.
func TestTimeBoundaries(t *testing.T) {
	k := testKeys()
	const leeway = time.Minute
	const maxAge = 10 * time.Minute
	base := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC) // the claims' reference instant
	s, ms := base.Unix(), base.UnixMilli()
	lifetime := 300 * time.Second

	cases := []struct {
		name    string
		payload string
		maxAge  time.Duration
		// last is the last accepted instant when late is true (rejected
		// after it), the first accepted one when late is false (rejected
		// before it).
		last time.Time
		late bool
		want verify.Reason
	}{
		{"exp in seconds", `{"exp":` + itoa(s) + `}`, 0, base.Add(leeway), true, verify.ReasonTokenExpired},
		{"exp in milliseconds", `{"exp":` + itoa(ms) + `}`, 0, base.Add(leeway), true, verify.ReasonTokenExpired},
		{"exp in fractional seconds", `{"exp":` + itoa(s) + `.25}`, 0, base.Add(250 * time.Millisecond).Add(leeway), true, verify.ReasonTokenExpired},
		{"relative exp after a string ms iat (PayGlocal)", `{"iat":"` + itoa(ms) + `","exp":300000}`, 0, base.Add(lifetime).Add(leeway), true, verify.ReasonTokenExpired},
		{"relative exp after a numeric ms iat", `{"iat":` + itoa(ms) + `,"exp":300000}`, 0, base.Add(lifetime).Add(leeway), true, verify.ReasonTokenExpired},
		{"absolute ms exp next to a ms iat", `{"iat":"` + itoa(ms-1000) + `","exp":` + itoa(ms) + `}`, 0, base.Add(leeway), true, verify.ReasonTokenExpired},
		{"absolute s exp next to a ms iat", `{"iat":"` + itoa(ms-1000) + `","exp":` + itoa(s) + `}`, 0, base.Add(leeway), true, verify.ReasonTokenExpired},
		{"nbf in seconds", `{"nbf":` + itoa(s) + `}`, 0, base.Add(-leeway), false, verify.ReasonTokenNotYetValid},
		{"nbf in milliseconds", `{"nbf":` + itoa(ms) + `}`, 0, base.Add(-leeway), false, verify.ReasonTokenNotYetValid},
		{"iat in seconds, in the future", `{"iat":` + itoa(s) + `}`, 0, base.Add(-leeway), false, verify.ReasonTokenIssuedInFuture},
		{"iat as a ms string, in the future", `{"iat":"` + itoa(ms) + `"}`, 0, base.Add(-leeway), false, verify.ReasonTokenIssuedInFuture},
		{"iat as a seconds string, in the future", `{"iat":"` + itoa(s) + `"}`, 0, base.Add(-leeway), false, verify.ReasonTokenIssuedInFuture},
		{"max_age, iat in seconds", `{"iat":` + itoa(s) + `}`, maxAge, base.Add(maxAge).Add(leeway), true, verify.ReasonTokenTooOld},
		{"max_age, iat as a ms string", `{"iat":"` + itoa(ms) + `"}`, maxAge, base.Add(maxAge).Add(leeway), true, verify.ReasonTokenTooOld},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := mustNew(t, Config{Secrets: [][]byte{k.secret1}, Leeway: leeway, MaxAge: c.maxAge})
			tok := sign(t, "HS256", k.secret1, hdr("HS256", ""), c.payload)
			step := time.Millisecond
			if !c.late {
				step = -step
			}
			r, _ := bearer(t, tok)
			if _, err := run(v, r, nil, c.last); err != nil {
				t.Errorf("at the boundary: %v, want accepted", err)
			}
			r, _ = bearer(t, tok)
			if _, err := run(v, r, nil, c.last.Add(step)); reasonOf(t, err) != c.want {
				t.Errorf("1ms past the boundary: %v, want %s", err, c.want)
			}
		})
	}
}

// Values at the edges of the unit rules.
func TestTimeClaimEdges(t *testing.T) {
	k := testKeys()
	now := testNow
	cases := []struct {
		name, payload string
		maxAge        time.Duration
		want          verify.Reason
	}{
		{"exp below 10^9 with a seconds iat is a date in 2001", `{"iat":` + itoa(now.Unix()) + `,"exp":300000}`, 0, verify.ReasonTokenExpired},
		{"exp below 10^9 without iat is a date in 1970", `{"exp":300000}`, 0, verify.ReasonTokenExpired},
		{"negative exp next to a ms iat is not a lifetime", `{"iat":"` + itoa(now.UnixMilli()) + `","exp":-5}`, 0, verify.ReasonTokenExpired},
		{"exp of exactly 10^12 is seconds (far future)", `{"exp":1000000000000}`, 0, ""},
		{"huge exp clamps to the far future", `{"exp":1e300}`, 0, ""},
		{"huge integer exp clamps to the far future", `{"exp":123456789012345678901234567890}`, 0, ""},
		{"huge iat is in the future", `{"iat":"99999999999999999999999"}`, 0, verify.ReasonTokenIssuedInFuture},
		{"negative huge nbf is long past", `{"nbf":-1e300}`, 0, ""},
		{"iat with a leading zero string", `{"iat":"0` + itoa(now.UnixMilli()-1000) + `"}`, 0, ""},
		{"iat empty string", `{"iat":""}`, 0, verify.ReasonInvalidClaims},
		{"iat with spaces", `{"iat":" 1636980973327"}`, 0, verify.ReasonInvalidClaims},
		{"iat decimal string", `{"iat":"1636980973.5"}`, 0, verify.ReasonInvalidClaims},
		{"iat null", `{"iat":null}`, 0, verify.ReasonInvalidClaims},
		{"exp object", `{"exp":{"v":1}}`, 0, verify.ReasonInvalidClaims},
		{"exp array", `{"exp":[1]}`, 0, verify.ReasonInvalidClaims},
		{"invalid iat wins over an expired exp", `{"iat":"x","exp":1}`, 0, verify.ReasonInvalidClaims},
		{"expired wins over too old", `{"iat":1,"exp":2}`, time.Minute, verify.ReasonTokenExpired},
		{"whitespace around the values", "{ \"iat\" : \"" + itoa(now.UnixMilli()-5000) + "\" ,\n\"exp\"\t: 300000 }", 0, ""},
		{"whitespace around an expired exp", `{"exp" : 1 }`, 0, verify.ReasonTokenExpired},
		{"max_age with a ms iat, fresh", `{"iat":"` + itoa(now.UnixMilli()-5000) + `","exp":300000}`, time.Minute, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := mustNew(t, Config{Secrets: [][]byte{k.secret1}, Leeway: time.Minute, MaxAge: c.maxAge})
			r, _ := bearer(t, sign(t, "HS256", k.secret1, hdr("HS256", ""), c.payload))
			_, err := run(v, r, nil, now)
			if got := reasonOf(t, err); got != c.want {
				t.Errorf("got %v, want %s", err, orOK(c.want))
			}
		})
	}
}

// A zero in.Now means the current time.
func TestZeroNowUsesClock(t *testing.T) {
	k := testKeys()
	v := mustNew(t, Config{Secrets: [][]byte{k.secret1}, Leeway: time.Minute})
	r, _ := bearer(t, sign(t, "HS256", k.secret1, hdr("HS256", ""), `{"exp":`+itoa(time.Now().Unix()+60)+`}`))
	if _, err := run(v, r, nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
}
