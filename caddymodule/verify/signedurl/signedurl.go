// Package signedurl implements the signed_url verifier of callback_guard:
// Glopal-style callbacks whose URL carries an HMAC-SHA256 of itself.
//
//	signed_url <param> <secret>
//
// The signature is the lower-case hex HMAC-SHA256, keyed with the secret, of
// the request URL as node's WHATWG URL class serializes it after deleting
// <param> from the query and stably sorting the remaining parameters:
//
//	u = new URL(url); u.searchParams.delete(param); u.searchParams.sort(); u.toString()
//
// The server cannot run node, and Go's net/url serializes differently
// ('~' and '*', order of repeated keys, '+' for spaces, path dot segments),
// so this package re-implements exactly the pieces of the WHATWG URL
// standard that the canonical string depends on, and its tests check them
// against node.
package signedurl

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
)

// Kind is the subdirective name.
const Kind = "signed_url"

// Verifier checks one signed_url line. It is safe for concurrent use: the
// only mutable part is a pool of per-call states, each with its own keyed
// HMAC whose padded-key state is computed once and restored on Reset.
type Verifier struct {
	param string
	pool  sync.Pool // of *state with mac set
}

var _ verify.Verifier = (*Verifier)(nil)

// New returns the verifier for `signed_url <param> <secret>`. The secret
// is copied; errors never mention it.
func New(param string, secret []byte) (*Verifier, error) {
	if err := checkParam(param); err != nil {
		return nil, err
	}
	if len(secret) == 0 {
		return nil, errors.New("signed_url: the secret is empty")
	}
	key := bytes.Clone(secret)
	v := &Verifier{param: param}
	v.pool.New = func() any {
		return &state{mac: hmac.New(sha256.New, key)}
	}
	return v, nil
}

func checkParam(param string) error {
	if param == "" {
		return errors.New("signed_url: the signature parameter name is empty")
	}
	if !utf8.ValidString(param) {
		// A decoded query name is always valid UTF-8, so it could never match.
		return errors.New("signed_url: the signature parameter name is not valid UTF-8")
	}
	return nil
}

// Kind returns "signed_url".
func (v *Verifier) Kind() string { return Kind }

// Param returns the name of the query parameter holding the signature.
func (v *Verifier) Param() string { return v.param }

// Verify checks the signature of the request URL. The path and query are
// read from the request line (in.Request.RequestURI, or the parsed URL
// when that is empty, as in tests); scheme and host are in.Scheme and
// in.Host, those the client used, which the caller resolves through trusted
// proxies. The signature is the first <param> value, as searchParams.get
// returns it. A missing or empty one is missing_signature; a malformed or
// wrong one, or a URL node could not have parsed, is invalid_signature.
func (v *Verifier) Verify(in *verify.Input, _ *verify.Output) error {
	target := ""
	if r := in.Request; r != nil {
		target = r.RequestURI
		if target == "" && r.URL != nil {
			target = r.URL.RequestURI()
		}
	}
	s := v.pool.Get().(*state)
	defer putState(&v.pool, s)

	ok := s.build(in.Scheme, in.Host, target, v.param)
	sig := s.sig()
	switch {
	case !s.found || len(sig) == 0:
		return verify.Fail(verify.ReasonMissingSignature, "no "+v.param+" query parameter")
	case !ok:
		return verify.Fail(verify.ReasonInvalidSignature, "request scheme, host or port is not valid in a URL")
	case len(sig) != 2*sha256.Size:
		return verify.Fail(verify.ReasonInvalidSignature, "signature is not 64 hex digits")
	}
	if _, err := hex.Decode(s.want[:], sig); err != nil {
		return verify.Fail(verify.ReasonInvalidSignature, "signature is not 64 hex digits")
	}
	s.mac.Reset()
	s.mac.Write(s.out)
	if !hmac.Equal(s.mac.Sum(s.sum[:0]), s.want[:]) {
		return verify.Fail(verify.ReasonInvalidSignature, "signature does not match the request URL")
	}
	return nil
}

// Sign returns rawURL with param=<hex HMAC-SHA256 of its canonical form>
// appended as the last query parameter, after '?' or '&', the way Glopal
// appends it. The rest of the URL is left as written (only surrounding
// spaces and control characters, which the URL parser ignores, are
// trimmed, so that the appended parameter cannot make them significant); a
// fragment stays at the end and is not signed. It is an error if rawURL
// already carries param: the verifier reads the first occurrence, so the
// appended one would never be checked.
func Sign(rawURL, param string, secret []byte) (string, error) {
	if err := checkParam(param); err != nil {
		return "", err
	}
	if len(secret) == 0 {
		return "", errors.New("signed_url: the secret is empty")
	}
	canonical, _, found, err := CanonicalURL(rawURL, param)
	if err != nil {
		return "", err
	}
	if found {
		return "", errors.New("signed_url: the URL already has a " + param + " parameter")
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(canonical))
	var sum [sha256.Size]byte

	u := strings.Trim(rawURL, c0OrSpace)
	fragment := ""
	if i := strings.IndexByte(u, '#'); i >= 0 {
		u, fragment = u[:i], u[i:]
	}
	sep := "?"
	if q := strings.IndexByte(u, '?'); q >= 0 {
		sep = "&"
		if q == len(u)-1 || u[len(u)-1] == '&' { // empty query, or one ending in '&'
			sep = ""
		}
	}
	b := make([]byte, 0, len(u)+len(sep)+len(param)*3+1+2*sha256.Size+len(fragment))
	b = append(b, u...)
	b = append(b, sep...)
	b = appendFormEncoded(b, []byte(param))
	b = append(b, '=')
	b = hex.AppendEncode(b, mac.Sum(sum[:0]))
	b = append(b, fragment...)
	return string(b), nil
}
