package jwtauth

import (
	"bytes"
	"encoding/json"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
)

// place is where in a request a token field can be: a source kind.
type place uint8

const (
	inHeader place = iota
	inQuery
	inForm
	inJSON
)

var placeNames = [...]string{inHeader: "header", inQuery: "query", inForm: "form", inJSON: "json"}

// source is a configured place and field name to take the token from.
type source struct {
	place place
	// name is the header name in canonical form, or the field or
	// parameter name as given.
	name string
	// bearer: the Authorization header, whose value must be "Bearer <token>".
	bearer bool
}

// fieldState is what a token field holds.
type fieldState uint8

const (
	holdsToken   fieldState = iota
	holdsNothing            // empty, null, or an Authorization header of another scheme
	holdsGarbage            // a value no backend reads as one token: undecodable, not a string, a PHP array
)

// field is one occurrence of a token field's name in the request.
type field struct {
	place place
	name  string // as it occurs (a header's canonical name, a field's decoded name)
	value string
	state fieldState
}

// token finds the one token of the request. Every field that bears a
// configured name is counted, wherever it is and whatever the Content-Type:
// in the headers, the query, the body read as a form and the body read as
// JSON. More than one is malformed_token, so that no backend can read a
// token the guard did not check (PHP's $_REQUEST prefers the form to the
// query, Go's FormValue the reverse; a JSON body's text can hold a form
// field). The one field is the token when a configured source names its
// place, and, for the body, when the Content-Type says form or JSON as PHP
// reads it: only then does a backend read the body that way.
func (v *Verifier) token(r *http.Request, body []byte) (string, *verify.Failure) {
	var found []field
	found = v.headerFields(found, r.Header)
	if r.URL != nil {
		found = v.formFields(found, r.URL.RawQuery, inQuery)
	}
	if len(body) > 0 {
		found = v.formFields(found, string(body), inForm)
		found = v.jsonFields(found, body)
		found = v.multipartFields(found, body, r.Header.Get("Content-Type"))
	}
	switch {
	case len(found) == 0:
		return "", verify.Fail(verify.ReasonMissingToken, v.missingMsg)
	case len(found) > 1:
		return "", verify.Fail(verify.ReasonMalformedToken, "the token field occurs more than once in the request ("+placesOf(found)+")")
	}
	f := found[0]
	if !v.takes(&f, r.Header.Get("Content-Type")) {
		return "", verify.Fail(verify.ReasonMissingToken, v.missingMsg+" (a token field is in the "+placeNames[f.place]+")")
	}
	switch f.state {
	case holdsNothing:
		return "", verify.Fail(verify.ReasonMissingToken, v.missingMsg)
	case holdsGarbage:
		return "", verify.Fail(verify.ReasonMalformedToken, "the token field in the "+placeNames[f.place]+" holds no single string")
	}
	return f.value, nil
}

// takes reports whether a configured source names the field's place, and
// for the body, whether the Content-Type makes it a form or JSON.
func (v *Verifier) takes(f *field, contentType string) bool {
	for _, s := range v.sources {
		if s.place != f.place || !sameName(s.place, s.name, f.name) {
			continue
		}
		switch s.place {
		case inForm:
			return verify.IsFormMediaType(verify.MediaType(contentType))
		case inJSON:
			return verify.IsJSONMediaType(verify.MediaType(contentType))
		}
		return true
	}
	return false
}

// sameName compares a configured name with a field's as a backend would:
// header names in any case and with '-', '_' and '.' alike (PHP's $_SERVER
// maps all three to '_'); JSON keys exactly; form and query names exactly or
// as PHP reads them, with ' ' and '.' as '_'.
func sameName(p place, configured, name string) bool {
	switch p {
	case inJSON:
		return configured == name
	case inHeader:
		return sameBytes(configured, name, func(c byte) byte {
			switch {
			case 'A' <= c && c <= 'Z':
				return c + ('a' - 'A')
			case c == '_' || c == '.':
				return '-'
			}
			return c
		})
	}
	return configured == name || sameBytes(configured, name, func(c byte) byte {
		if c == ' ' || c == '.' {
			return '_'
		}
		return c
	})
}

// sameBytes reports whether a and b are equal once every byte is mapped.
func sameBytes(a, b string, fold func(byte) byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if fold(a[i]) != fold(b[i]) {
			return false
		}
	}
	return true
}

// isName reports whether a field in place p bears one of the configured
// names (of any source kind: a name counts wherever it occurs).
func (v *Verifier) isName(p place, name string) bool {
	for _, s := range v.sources {
		if sameName(p, s.name, name) {
			return true
		}
	}
	return false
}

// headerFields adds every header line bearing a token name. An
// Authorization header holds a token only with the Bearer scheme (any case,
// RFC 9110 §11.1).
func (v *Verifier) headerFields(found []field, h http.Header) []field {
	for name, vals := range h {
		if !v.isName(inHeader, name) {
			continue
		}
		for _, val := range vals {
			f := field{place: inHeader, name: name, value: strings.TrimSpace(val)}
			if strings.EqualFold(name, "Authorization") {
				const scheme = "bearer "
				if len(f.value) > len(scheme) && strings.EqualFold(f.value[:len(scheme)], scheme) {
					f.value = strings.TrimLeft(f.value[len(scheme):], " ")
				} else {
					f.value = ""
				}
			}
			if f.value == "" {
				f.state = holdsNothing
			}
			found = append(found, f)
		}
	}
	return found
}

// formFields adds every field of an application/x-www-form-urlencoded
// string (a query, or a body whatever its Content-Type) that bears a token
// name, split on '&' as PHP, Go, Node and Python split it. A field named
// name[...] counts too: PHP reads it as an array under that name.
func (v *Verifier) formFields(found []field, q string, p place) []field {
	for q != "" {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		rawKey, rawVal, _ := strings.Cut(pair, "=")
		key, err := unescape(rawKey)
		if err != nil {
			continue // no backend decodes it to a token name either
		}
		f := field{place: p, name: key}
		if i := strings.IndexByte(key, '['); i > 0 && v.isName(p, key[:i]) {
			f.name, f.state = key[:i], holdsGarbage
		} else if !v.isName(p, key) {
			continue
		}
		if f.state == holdsToken {
			val, err := unescape(rawVal)
			switch {
			case err != nil:
				f.state = holdsGarbage
			case val == "":
				f.state = holdsNothing
			}
			f.value = val
		}
		found = append(found, f)
	}
	return found
}

// multipartFields adds every part of a multipart/form-data body named with a
// token name: PHP fills $_POST from such parts, as Go's ParseMultipartForm
// does. A part is never taken as the token (no source reads multipart); it
// only counts. A body that stops parsing counts the parts read until then.
func (v *Verifier) multipartFields(found []field, body []byte, contentType string) []field {
	if verify.MediaType(contentType) != "multipart/form-data" {
		return found
	}
	_, params, err := mime.ParseMediaType(contentType)
	boundary := params["boundary"]
	if err != nil {
		// PHP finds the boundary in a Content-Type that Go refuses to
		// parse ("multipart/form-data, x; boundary=b"): so does the guard.
		_, after, _ := strings.Cut(contentType, "boundary=")
		boundary, _, _ = strings.Cut(after, ";")
		boundary = strings.Trim(boundary, "\" ")
	}
	if boundary == "" {
		return found
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	for {
		part, err := mr.NextPart()
		if err != nil {
			return found
		}
		name := part.FormName()
		if i := strings.IndexByte(name, '['); i > 0 {
			name = name[:i]
		}
		if v.isName(inForm, name) {
			found = append(found, field{place: inForm, name: name, state: holdsGarbage})
		}
	}
}

// unescape decodes a form key or value; a JWT needs no escaping, so the
// usual value is returned as it is without a byte-by-byte pass.
func unescape(s string) (string, error) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s, nil
	}
	return url.QueryUnescape(s)
}

// jsonFields adds every top-level field of a JSON object body that bears a
// token name, duplicates included (a decode into a map would keep only the
// last). The body must be valid JSON as encoding/json sees it.
func (v *Verifier) jsonFields(found []field, body []byte) []field {
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' || !json.Valid(body) {
		return found
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return found
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return found
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return found
		}
		key, _ := t.(string)
		if !v.isName(inJSON, key) {
			continue
		}
		f := field{place: inJSON, name: key}
		var s *string // nil for null
		switch {
		case json.Unmarshal(raw, &s) != nil:
			f.state = holdsGarbage
		case s == nil || *s == "":
			f.state = holdsNothing
		default:
			f.value = *s
		}
		found = append(found, f)
	}
	return found
}

func placesOf(found []field) string {
	names := make([]string, len(found))
	for i, f := range found {
		names[i] = placeNames[f.place]
	}
	return strings.Join(names, ", ")
}

func (s *source) describe() string {
	switch s.place {
	case inForm:
		return "form field " + s.name
	case inJSON:
		return "JSON field " + s.name
	case inQuery:
		return "query parameter " + s.name
	}
	return "header " + s.name
}
