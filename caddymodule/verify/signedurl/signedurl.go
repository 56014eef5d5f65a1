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
// so the WHATWG URL parser of nlnwa/whatwg-url gives the scheme, host and
// path, this package serializes the query as URLSearchParams does, and its
// tests check both against node.
//
// A request whose path the parser would rewrite (dot segments, a
// backslash) or whose target holds a fragment is rejected: the backend
// gets the target as written, so that is what must have been signed.
package signedurl

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
)

// Kind is the subdirective name.
const Kind = "signed_url"

// Verifier checks one signed_url line. It is safe for concurrent use.
type Verifier struct {
	param string
	// macs holds keyed HMAC-SHA256 states: hmac.New hashes the padded key
	// each time, Reset restores it.
	macs sync.Pool
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
	v.macs.New = func() any { return hmac.New(sha256.New, key) }
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
// the request target the backend receives (see requestTarget); scheme and
// host are in.Scheme and in.Host, those the client used, which the caller
// resolves through trusted proxies. The signature is the first <param>
// value, as searchParams.get returns it. A missing or empty one is
// missing_signature; a malformed or wrong one, a URL node could not have
// parsed, or a target the URL parser would rewrite (checkTarget) is
// invalid_signature.
func (v *Verifier) Verify(in *verify.Input, out *verify.Output) error {
	target := requestTarget(in.Request)
	if err := checkTarget(target); err != nil {
		return verify.Fail(verify.ReasonInvalidSignature, err.Error())
	}
	canonical, sig, found, err := canonicalRequest(in.Scheme, in.Host, target, v.param)
	switch {
	case err != nil:
		return verify.Fail(verify.ReasonInvalidSignature, err.Error())
	case !found || sig == "":
		return verify.Fail(verify.ReasonMissingSignature, "no "+v.param+" query parameter")
	}
	var want [sha256.Size]byte
	if len(sig) != hex.EncodedLen(len(want)) {
		return verify.Fail(verify.ReasonInvalidSignature, "signature is not 64 hex digits")
	}
	if _, err := hex.Decode(want[:], []byte(sig)); err != nil {
		return verify.Fail(verify.ReasonInvalidSignature, "signature is not 64 hex digits")
	}
	mac := v.macs.Get().(hash.Hash)
	defer v.macs.Put(mac)
	mac.Reset()
	mac.Write([]byte(canonical))
	var got [sha256.Size]byte
	if !hmac.Equal(mac.Sum(got[:0]), want[:]) {
		return verify.Fail(verify.ReasonInvalidSignature, "signature does not match the request URL")
	}
	// Every buyer's URL is signed with the one secret: the URL, which its
	// signature stands for, scopes the dedupe key, so that one buyer's
	// delivery never gets or stores the answer to another's.
	out.Credential = "url:" + hex.EncodeToString(want[:8])
	return nil
}

// Sign returns rawURL with param=<hex HMAC-SHA256 of its canonical form>
// appended as the last query parameter, after '?' or '&', the way Glopal
// appends it. The rest of the URL is left as written (only surrounding
// spaces and control characters, which the URL parser ignores, are
// trimmed, so that the appended parameter cannot make them significant); a
// fragment stays at the end and is not signed. It is an error if rawURL
// already carries param (the verifier reads the first occurrence, so the
// appended one would never be checked), and if its path or query is one
// the verifier rejects (checkTarget).
func Sign(rawURL, param string, secret []byte) (string, error) {
	if err := checkParam(param); err != nil {
		return "", err
	}
	if len(secret) == 0 {
		return "", errors.New("signed_url: the secret is empty")
	}
	canonical, _, found, target, err := canonicalURL(rawURL, param)
	if err != nil {
		return "", err
	}
	if found {
		return "", errors.New("signed_url: the URL already has a " + param + " parameter")
	}
	if err := checkTarget(target); err != nil {
		return "", errors.New("signed_url: the guard rejects this URL: " + err.Error())
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(canonical))

	u, fragment, hasFragment := strings.Cut(strings.TrimFunc(rawURL, c0OrSpace), "#")
	var b strings.Builder
	b.WriteString(u)
	switch q := strings.IndexByte(u, '?'); {
	case q < 0:
		b.WriteByte('?')
	case q < len(u)-1 && u[len(u)-1] != '&': // not an empty query, nor one ending in '&'
		b.WriteByte('&')
	}
	formEncode(&b, param)
	b.WriteByte('=')
	b.WriteString(hex.EncodeToString(mac.Sum(nil)))
	if hasFragment {
		b.WriteByte('#')
		b.WriteString(fragment)
	}
	return b.String(), nil
}
