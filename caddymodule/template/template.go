// Package template evaluates the key and event templates of callback_guard:
// `{json.a.b}` (a field of a JSON body; a number indexes an array,
// `{json.items.0.id}`), `{form.f}` (a field of a form-encoded body),
// `{claim.c}` (a verified JWT claim), `{body.sha256}` (hex SHA-256 of the raw
// body), any Caddy request placeholder, and literal text. A template resolves
// only when every placeholder in it is non-empty, except placeholders marked
// optional (Globiance's payment fields).
//
// Templates are compiled into a Set at provisioning, so that a request's body
// and claims are parsed at most once, and each field the guard's templates
// name is looked up once, only when a template asks for it.
package template

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
)

type partKind uint8

const (
	partLiteral partKind = iota
	partJSON
	partForm
	partClaim
	partBodySHA256
	partPlaceholder
)

type part struct {
	kind     partKind
	text     string // literal text, form field or placeholder name
	jsonIdx  int    // index into the Set's JSON paths, or (claims) its claim paths
	pathIdx  int    // claims: index of the dotted path, -1 when the name has no dot
	optional bool   // may be empty without leaving the template unresolved
}

// Template is one compiled template.
type Template struct {
	src   string
	parts []part
}

// String returns the template as written.
func (t *Template) String() string { return t.src }

// Literal reports whether the template has no placeholder, and its text.
func (t *Template) Literal() (string, bool) {
	if len(t.parts) == 1 && t.parts[0].kind == partLiteral {
		return t.parts[0].text, true
	}
	if len(t.parts) == 0 {
		return "", true
	}
	return "", false
}

// Set compiles templates that share one read of the request body.
type Set struct {
	jsonPaths  [][]string
	jsonIndex  map[string]int
	claimPaths [][]string
	claimIndex map[string]int
	usesForm   bool
}

// index returns the position of path in paths, adding it when new.
func index(paths *[][]string, byName *map[string]int, name string, path []string) int {
	if idx, ok := (*byName)[name]; ok {
		return idx
	}
	if *byName == nil {
		*byName = make(map[string]int)
	}
	idx := len(*paths)
	(*byName)[name] = idx
	*paths = append(*paths, path)
	return idx
}

// Compile parses src. Placeholders whose names start with one of
// optionalPrefixes may be empty.
func (s *Set) Compile(src string, optionalPrefixes []string) (*Template, error) {
	t := &Template{src: src}
	err := Scan(src, func(text string) {
		t.parts = append(t.parts, part{kind: partLiteral, text: text})
	}, func(name string) error {
		if name == "" || strings.ContainsAny(name, "{ ") {
			return fmt.Errorf("invalid placeholder {%s}", name)
		}
		p, err := s.placeholder(name)
		if err != nil {
			return err
		}
		for _, prefix := range optionalPrefixes {
			if strings.HasPrefix(name, prefix) {
				p.optional = true
			}
		}
		t.parts = append(t.parts, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// Scan splits src into runs of literal text and {placeholder} names, in
// order, calling literal or placeholder for each; a backslash before a brace
// makes it literal. Errors, its own (an unbalanced brace) and placeholder's,
// name the template. The hmac verifier's signed templates are written in
// the same syntax with placeholders of their own, and scanned here too.
func Scan(src string, literal func(text string), placeholder func(name string) error) error {
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			literal(lit.String())
			lit.Reset()
		}
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '\\' && i+1 < len(src) && (src[i+1] == '{' || src[i+1] == '}'):
			lit.WriteByte(src[i+1])
			i++
		case c == '}':
			return fmt.Errorf("template %q: '}' without '{' at offset %d", src, i)
		case c == '{':
			end := strings.IndexByte(src[i+1:], '}')
			if end < 0 {
				return fmt.Errorf("template %q: unclosed '{' at offset %d", src, i)
			}
			flush()
			if err := placeholder(src[i+1 : i+1+end]); err != nil {
				return fmt.Errorf("template %q: %w", src, err)
			}
			i += end + 1
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return nil
}

func (s *Set) placeholder(name string) (part, error) {
	switch {
	case strings.HasPrefix(name, "json."):
		path := name[len("json."):]
		keys := strings.Split(path, ".")
		for _, k := range keys {
			if k == "" {
				return part{}, fmt.Errorf("{%s}: empty key in JSON path", name)
			}
		}
		return part{kind: partJSON, jsonIdx: index(&s.jsonPaths, &s.jsonIndex, path, keys)}, nil
	case strings.HasPrefix(name, "form."):
		if len(name) == len("form.") {
			return part{}, fmt.Errorf("{%s}: missing form field name", name)
		}
		s.usesForm = true
		return part{kind: partForm, text: name[len("form."):]}, nil
	case strings.HasPrefix(name, "claim."):
		if len(name) == len("claim.") {
			return part{}, fmt.Errorf("{%s}: missing claim name", name)
		}
		claim := name[len("claim."):]
		// A claim named with dots is looked up whole first (claims named
		// by URI), then as a path into nested objects.
		p := part{kind: partClaim, jsonIdx: index(&s.claimPaths, &s.claimIndex, claim, []string{claim}), pathIdx: -1}
		if strings.Contains(claim, ".") {
			p.pathIdx = index(&s.claimPaths, &s.claimIndex, "."+claim, strings.Split(claim, "."))
		}
		return p, nil
	case name == "body.sha256":
		return part{kind: partBodySHA256}, nil
	case strings.HasPrefix(name, "body."):
		return part{}, fmt.Errorf("{%s}: unknown body placeholder (only {body.sha256})", name)
	}
	return part{kind: partPlaceholder, text: name}, nil
}

// UsesForm reports whether a template reads form fields, so that the
// caller looks at the Content-Type only then.
func (s *Set) UsesForm() bool { return s.usesForm }

// Env is one request as templates see it. Fill the exported fields; the
// rest caches what one template computed for the next.
type Env struct {
	Set *Set
	// Body is the raw request body.
	Body []byte
	// FormBody tells that the body is application/x-www-form-urlencoded.
	FormBody bool
	// ClaimsJSON is the verified JWT payload (nil: none).
	ClaimsJSON []byte
	// Placeholder resolves Caddy's own placeholders (nil: none resolve).
	Placeholder func(name string) (string, bool)

	body, claims fields
	formDone     bool
	form         url.Values
	sha          string
}

// fields are the values a Set's paths name in one JSON document, looked up
// on first use.
type fields struct {
	doc  *jsonDoc // nil until the first lookup
	vals []field
}

type field struct {
	done, found bool
	val         string
}

// get is the value of path number i of paths in the document src.
func (f *fields) get(src []byte, paths [][]string, i int) (string, bool) {
	if f.doc == nil {
		doc := parseJSON(src)
		f.doc, f.vals = &doc, make([]field, len(paths))
	}
	v := &f.vals[i]
	if !v.done {
		v.done = true
		v.val, v.found = f.doc.lookup(paths[i])
	}
	return v.val, v.found
}

// Resolve evaluates t; ok is false when a required placeholder is empty,
// or when the whole result is empty (an empty key is no key).
func (t *Template) Resolve(e *Env) (string, bool) {
	if len(t.parts) == 1 {
		v, ok := e.value(&t.parts[0])
		return v, ok && v != ""
	}
	var b strings.Builder
	for i := range t.parts {
		p := &t.parts[i]
		v, ok := e.value(p)
		if !ok {
			return "", false
		}
		b.WriteString(v)
	}
	return b.String(), b.Len() > 0
}

// value renders one part; ok is false when a required part is empty.
func (e *Env) value(p *part) (string, bool) {
	var v string
	switch p.kind {
	case partLiteral:
		return p.text, true
	case partJSON:
		v, _ = e.body.get(e.Body, e.Set.jsonPaths, p.jsonIdx)
	case partForm:
		if !e.formDone {
			e.formDone = true
			if e.FormBody && len(e.Body) > 0 {
				e.form, _ = url.ParseQuery(string(e.Body))
			}
		}
		v = e.form.Get(p.text)
	case partClaim:
		var found bool
		v, found = e.claims.get(e.ClaimsJSON, e.Set.claimPaths, p.jsonIdx)
		if !found && p.pathIdx >= 0 {
			v, _ = e.claims.get(e.ClaimsJSON, e.Set.claimPaths, p.pathIdx)
		}
	case partBodySHA256:
		if len(e.Body) > 0 {
			if e.sha == "" {
				sum := sha256.Sum256(e.Body)
				e.sha = hex.EncodeToString(sum[:])
			}
			v = e.sha
		}
	case partPlaceholder:
		if e.Placeholder != nil {
			v, _ = e.Placeholder(p.text)
		}
	}
	if v == "" && !p.optional {
		return "", false
	}
	return v, true
}
