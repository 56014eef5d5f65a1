package verify

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// BasicAuth checks HTTP Basic credentials against every configured
// user/password pair. All pairs are compared, always, in constant time, so
// that an unknown user costs the same as a wrong password and the time taken
// says nothing about which users exist.
type BasicAuth struct {
	users     []Secret
	passwords []Secret
}

// NewBasicAuth builds the verifier of the basic_auth lines (alternatives).
func NewBasicAuth() *BasicAuth { return &BasicAuth{} }

// Add accepts one more user and password.
func (b *BasicAuth) Add(user, password string) error {
	if user == "" || password == "" {
		return errors.New("basic_auth: empty user or password")
	}
	b.users = append(b.users, NewSecret(user))
	b.passwords = append(b.passwords, NewSecret(password))
	return nil
}

// Kind is "basic_auth".
func (b *BasicAuth) Kind() string { return "basic_auth" }

// Verify checks the Authorization header.
func (b *BasicAuth) Verify(in *Input, _ *Output) error {
	user, pass, ok := in.Request.BasicAuth()
	if !ok {
		return Fail(ReasonMissingCredentials, "no Basic Authorization header")
	}
	uh := HashString(user)
	ph := HashString(pass)
	match := 0
	for i := range b.users {
		match |= b.users[i].MatchesHash(&uh) & b.passwords[i].MatchesHash(&ph)
	}
	if match != 1 {
		return Fail(ReasonInvalidCredentials, "basic_auth: no matching user and password")
	}
	return nil
}

// QuerySecret checks a secret carried in a query parameter. Lines with the
// same parameter are alternatives; the handler strips the parameter before
// forwarding.
type QuerySecret struct {
	param   string
	secrets []Secret
	missing string // failure details, made once
	wrong   string
}

// NewQuerySecret builds the verifier of one query parameter.
func NewQuerySecret(param string) *QuerySecret {
	return &QuerySecret{param: param,
		missing: "query_secret: parameter " + param + " absent",
		wrong:   "query_secret: wrong secret in " + param}
}

// Add accepts one more secret for the parameter.
func (q *QuerySecret) Add(secret string) { q.secrets = append(q.secrets, NewSecret(secret)) }

// Param is the query parameter's name.
func (q *QuerySecret) Param() string { return q.param }

// Kind is "query_secret".
func (q *QuerySecret) Kind() string { return "query_secret" }

// Verify looks up the parameter in the raw query (its first occurrence, as
// url.Values.Get does) and compares it with every secret.
func (q *QuerySecret) Verify(in *Input, _ *Output) error {
	v, ok := QueryValue(in.Request.URL.RawQuery, q.param)
	if !ok || v == "" {
		return Fail(ReasonMissingCredentials, q.missing)
	}
	return matchAny(q.secrets, v, q.wrong)
}

// HeaderSecret checks that a header carries one of the configured values,
// whole and exact (e.g. "Bearer abc").
type HeaderSecret struct {
	header  string
	values  []Secret
	missing string // failure details, made once
	wrong   string
}

// NewHeaderSecret builds the verifier of one header.
func NewHeaderSecret(header string) *HeaderSecret {
	h := http.CanonicalHeaderKey(header)
	return &HeaderSecret{header: h,
		missing: "header_secret: header " + h + " absent",
		wrong:   "header_secret: wrong value in " + h}
}

// Add accepts one more value for the header.
func (h *HeaderSecret) Add(value string) { h.values = append(h.values, NewSecret(value)) }

// Header is the header's canonical name.
func (h *HeaderSecret) Header() string { return h.header }

// Kind is "header_secret".
func (h *HeaderSecret) Kind() string { return "header_secret" }

// Verify compares the header's first value with every configured value.
func (h *HeaderSecret) Verify(in *Input, _ *Output) error {
	vs := in.Request.Header[h.header]
	if len(vs) == 0 || vs[0] == "" {
		return Fail(ReasonMissingCredentials, h.missing)
	}
	if len(vs) > 1 {
		// Two values for a secret header is not something a provider sends;
		// accepting either would let a client smuggle a guess next to noise.
		return Fail(ReasonInvalidCredentials, "header_secret: header "+h.header+" repeated")
	}
	return matchAny(h.values, vs[0], h.wrong)
}

// matchAny compares presented with every secret, without stopping early.
func matchAny(secrets []Secret, presented string, detail string) error {
	h := HashString(presented)
	match := 0
	for i := range secrets {
		match |= secrets[i].MatchesHash(&h)
	}
	if match != 1 {
		return Fail(ReasonInvalidCredentials, detail)
	}
	return nil
}

// QueryValue returns the decoded value of the first occurrence of name in a
// raw query string, without building a url.Values map.
func QueryValue(rawQuery, name string) (string, bool) {
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if k != name {
			if !strings.ContainsAny(k, "%+") {
				continue
			}
			dk, err := url.QueryUnescape(k)
			if err != nil || dk != name {
				continue
			}
		}
		if !strings.ContainsAny(v, "%+") {
			return v, true
		}
		dv, err := url.QueryUnescape(v)
		if err != nil {
			return "", true
		}
		return dv, true
	}
	return "", false
}

// RemoveQueryParam returns rawQuery without any occurrence of name, leaving
// every other pair exactly as it was written.
func RemoveQueryParam(rawQuery, name string) string {
	if !strings.Contains(rawQuery, name) && !strings.ContainsAny(rawQuery, "%+") {
		return rawQuery
	}
	var b strings.Builder
	rest := rawQuery
	for rest != "" {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		k, _, _ := strings.Cut(pair, "=")
		if k == name {
			continue
		}
		if strings.ContainsAny(k, "%+") {
			if dk, err := url.QueryUnescape(k); err == nil && dk == name {
				continue
			}
		}
		if pair == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(pair)
	}
	return b.String()
}
