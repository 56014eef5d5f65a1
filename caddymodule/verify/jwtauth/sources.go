package jwtauth

import (
	"net/http"
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
		if declaresUTF7(r.Header.Get("Content-Type")) {
			return "", verify.Fail(verify.ReasonMalformedToken, "the body is declared UTF-7, in which the token fields cannot be counted")
		}
		found = v.formFields(found, string(body), inForm)
		found = v.jsonFields(found, body)
		var unread *verify.Failure
		if found, unread = v.multipartFields(found, body, r.Header.Get("Content-Type")); unread != nil {
			return "", unread
		}
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

// takes reports whether a configured source names the field's place and,
// exactly, its name (a header's in any case, with '-', '_' and '.' alike),
// and for the body, whether the Content-Type makes it a form or JSON. A
// field counted under a name only some backends read it by (a PHP spelling,
// a JSON key in another case) is never the token.
func (v *Verifier) takes(f *field, contentType string) bool {
	for _, s := range v.sources {
		if s.place != f.place || !(s.name == f.name || s.place == inHeader && sameHeader(s.name, f.name)) {
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

// sameName compares a configured name with a field's as some backend reads
// them: header names in any case and with '-', '_' and '.' alike (PHP's
// $_SERVER maps all three to '_'); JSON keys in any case under Unicode's
// simple folding, as encoding/json matches struct fields; form and query
// names (already cut to what a backend reads, see formName) with ' ', '.'
// and '[' alike, all '_' to PHP.
func sameName(p place, configured, name string) bool {
	switch p {
	case inJSON:
		return strings.EqualFold(configured, name)
	case inHeader:
		return sameHeader(configured, name)
	}
	return sameBytes(configured, name, func(c byte) byte {
		if c == ' ' || c == '.' || c == '[' {
			return '_'
		}
		return c
	})
}

// sameHeader compares header names in any case and with '-', '_' and '.'
// alike.
func sameHeader(a, b string) bool {
	return sameBytes(a, b, func(c byte) byte {
		switch {
		case 'A' <= c && c <= 'Z':
			return c + ('a' - 'A')
		case c == '_' || c == '.':
			return '-'
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
