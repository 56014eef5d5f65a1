package jwtauth

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"unsafe"
)

// found is what looking in one source gave.
type found uint8

const (
	absent found = iota
	present
	// ambiguous: the field or header is there more than once, or its value
	// cannot be decoded. Such a request is refused rather than read one way:
	// a backend that reads the token again itself might pick another copy
	// (PHP keeps the last form field, Go the first), and act on a token the
	// guard never verified.
	ambiguous
)

// Token returns the token the configured sources hold, without verifying
// it: the first source that holds a non-empty value wins. It reads body (the
// raw request body, already read by the caller) and never r.Body. A field
// or header given more than once yields no token. The token is the
// caller's: it shares no memory with body.
func (v *Verifier) Token(r *http.Request, body []byte) (string, bool) {
	tok, st, src := v.extract(r, body)
	if st == present && (src.kind == kindForm || src.kind == kindJSON) {
		tok = strings.Clone(tok)
	}
	return tok, st == present
}

// extract looks in each source in turn. For an ambiguous source it returns
// that source, so that the failure can name it.
//
// A token from the body (a form or JSON field) is not copied: it shares
// body's memory, so it is only valid while body is unchanged and must not
// be kept beyond the request. Verify keeps nothing of it (it decodes the
// segments into buffers of its own, and golang-jwt hashes the signing input
// without keeping it), which spares a copy of a token of a few KB per request.
func (v *Verifier) extract(r *http.Request, body []byte) (string, found, *source) {
	for i := range v.sources {
		s := &v.sources[i]
		var tok string
		st := absent
		switch s.kind {
		case kindHeader:
			tok, st = headerToken(r.Header, s)
		case kindForm:
			if len(body) > 0 && isFormType(r.Header.Get("Content-Type")) {
				tok, st = formValue(body, s.name)
			}
		case kindJSON:
			if len(body) > 0 {
				tok, st = jsonField(body, s.name)
			}
		case kindQuery:
			if r.URL != nil {
				tok, st = formValue(r.URL.RawQuery, s.name)
			}
		}
		if st != absent {
			return tok, st, s
		}
	}
	return "", absent, nil
}

// headerToken reads a header source. A header sent more than once is
// ambiguous. The Authorization header must use the Bearer scheme, in any
// case (RFC 9110 §11.1); any other scheme, or no scheme, is no token.
func headerToken(h http.Header, s *source) (string, found) {
	vals := h[s.name]
	switch len(vals) {
	case 0:
		return "", absent
	case 1:
	default:
		return "", ambiguous
	}
	val := strings.TrimSpace(vals[0])
	if s.bearer {
		const scheme = "bearer "
		if len(val) <= len(scheme) || !strings.EqualFold(val[:len(scheme)], scheme) {
			return "", absent
		}
		val = strings.TrimLeft(val[len(scheme):], " ")
	}
	if val == "" {
		return "", absent
	}
	return val, present
}

// isFormType reports whether a Content-Type is
// application/x-www-form-urlencoded, whatever its parameters. A body of any
// other type is not read as a form, since the backend will not read it as
// one either (Go's ParseForm and PHP's $_POST go by the Content-Type).
func isFormType(ct string) bool {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.EqualFold(strings.TrimSpace(ct), "application/x-www-form-urlencoded")
}

// formValue finds the field name in an application/x-www-form-urlencoded
// string (a body or a raw query) the way url.ParseQuery decodes it, without
// building the whole url.Values: JWTs need no escaping, so the usual case
// allocates nothing, the value sharing q's memory (see extract). An empty
// value counts as absent; a second occurrence, even empty, makes it
// ambiguous.
func formValue[T string | []byte](q T, name string) (string, found) {
	var val string
	st := absent
	for len(q) > 0 {
		end := indexByte(q, '&')
		pair := q
		if end >= 0 {
			pair, q = q[:end], q[end+1:]
		} else {
			q = q[:0]
		}
		key, value := pair, pair[:0]
		if eq := indexByte(pair, '='); eq >= 0 {
			key, value = pair[:eq], pair[eq+1:]
		}
		if !formKeyIs(key, name) {
			continue
		}
		if st != absent {
			return "", ambiguous
		}
		st = present
		if needsUnescape(value) {
			u, err := url.QueryUnescape(string(value))
			if err != nil {
				return "", ambiguous
			}
			val = u
		} else {
			val = stringView(value)
		}
	}
	if st == present && val == "" {
		return "", absent
	}
	return val, st
}

func formKeyIs[T string | []byte](key T, name string) bool {
	if !needsUnescape(key) {
		return string(key) == name
	}
	u, err := url.QueryUnescape(string(key))
	return err == nil && u == name
}

// needsUnescape reports whether a form key or value holds an escape ('%'
// or '+', a space). JWTs hold neither, so the usual case copies nothing.
func needsUnescape[T string | []byte](s T) bool {
	return indexByte(s, '%') >= 0 || indexByte(s, '+') >= 0
}

// stringView is s as a string without a copy: for a []byte, a string that
// shares its memory (valid while the bytes are unchanged, see extract).
func stringView[T string | []byte](s T) string {
	switch x := any(s).(type) {
	case string:
		return x
	case []byte:
		return unsafe.String(unsafe.SliceData(x), len(x))
	}
	panic("unreachable")
}

// indexByte is strings.IndexByte or bytes.IndexByte (both vectorized): a
// callback body is a few KB, mostly the token.
func indexByte[T string | []byte](s T, c byte) int {
	switch x := any(s).(type) {
	case string:
		return strings.IndexByte(x, c)
	case []byte:
		return bytes.IndexByte(x, c)
	}
	panic("unreachable")
}
