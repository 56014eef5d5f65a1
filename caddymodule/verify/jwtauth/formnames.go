package jwtauth

import (
	"net/url"
	"strings"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
)

// formFields adds every field of an application/x-www-form-urlencoded
// string (a query, or a body whatever its Content-Type) that bears a token
// name as any backend reads it (see formName), split on '&' as PHP, Go,
// Node and Python split it.
func (v *Verifier) formFields(found []field, q string, p place) []field {
	for q != "" {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		rawKey, rawVal, _ := strings.Cut(pair, "=")
		key := verify.FormUnescape(rawKey)
		name, nested, ok := v.formName(p, key)
		if !ok {
			continue
		}
		if nested {
			found = append(found, field{place: p, name: name, state: holdsGarbage})
			continue
		}
		f := field{place: p, name: key}
		val, err := unescape(rawVal)
		switch {
		case err != nil:
			f.state = holdsGarbage
		case val == "":
			f.state = holdsNothing
		}
		f.value = val
		found = append(found, f)
	}
	return found
}

// formName reports whether a decoded form key (or multipart part name)
// names a token field to some backend, and the top-level name it reads:
// Go, Python and Node's querystring read the key as it is; PHP as phpName
// cuts it; Node's qs (Express's extended parser) as qsName cuts it. nested
// is true when that backend reads an array or object, never one token.
func (v *Verifier) formName(p place, key string) (name string, nested, ok bool) {
	if v.isName(p, key) {
		return key, false, true
	}
	if name, nested := phpName(key); name != "" && v.isName(p, name) {
		return name, nested, true
	}
	if name, nested := qsName(key); name != "" && v.isName(p, name) {
		return name, nested, true
	}
	return "", false, false
}

// phpName is the name under which PHP registers a decoded key in $_GET or
// $_POST (php_register_variable_ex in PHP's main/php_variables.c): the key
// ends at a NUL byte, loses its leading spaces, and, when a '[' is followed
// somewhere by a ']', is an array under the text before the '['. PHP then
// turns ' ', '.' and an unmatched '[' into '_', which sameName allows for.
func phpName(key string) (name string, array bool) {
	if i := strings.IndexByte(key, 0); i >= 0 {
		key = key[:i]
	}
	key = strings.TrimLeft(key, " ")
	if i := strings.IndexByte(key, '['); i >= 0 && strings.IndexByte(key[i+1:], ']') >= 0 {
		return key[:i], true
	}
	return key, false
}

// qsName is the top-level name under which Node's qs parser reads a decoded
// key: the text before the first "[...]" holding no bracket (a[b] is an
// object under a), or, when that group opens the key, the text inside it
// ([a] is a itself, and an object when more groups follow).
func qsName(key string) (name string, nested bool) {
	open := -1
	for i := 0; i < len(key); i++ {
		switch key[i] {
		case '[':
			open = i
		case ']':
			if open == 0 {
				return key[1:i], strings.IndexByte(key[i+1:], '[') >= 0
			}
			if open > 0 {
				return key[:open], true
			}
		}
	}
	return key, false
}

// unescape decodes a form value; a JWT needs no escaping, so the usual
// value is returned as it is without a byte-by-byte pass.
func unescape(s string) (string, error) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s, nil
	}
	return url.QueryUnescape(s)
}
