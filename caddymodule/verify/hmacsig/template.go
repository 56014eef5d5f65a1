package hmacsig

import (
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strings"

	keytemplate "github.com/callbackguard/callbackguard/caddymodule/template"
)

// maxParts bounds a signed template, so that its values fit in an array
// on the stack.
const maxParts = 16

type partKind uint8

const (
	partLiteral partKind = iota
	partBody
	partHeader
	partField
	partNotificationURL
)

type part struct {
	kind partKind
	text string // literal text, canonical header name or field key
}

// template is a compiled signed or timestamp template. It is written in the
// key templates' syntax but has placeholders of its own: {body} stands for
// the raw bytes, which are written into the hash, never copied, and a header
// must occur exactly once, as a signer sends it.
type template struct {
	parts []part
}

// parseTemplate compiles src; {body} is allowed only where body is true.
// The Caddyfile adapter has already turned {header.Name} into
// {http.request.header.Name}; both spellings are read.
func parseTemplate(src string, body bool) (*template, error) {
	t := new(template)
	err := keytemplate.Scan(src, func(text string) {
		t.parts = append(t.parts, part{kind: partLiteral, text: text})
	}, func(name string) error {
		p, err := placeholder(name, body)
		if err != nil {
			return err
		}
		t.parts = append(t.parts, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(t.parts) == 0 {
		return nil, errors.New("empty template")
	}
	if len(t.parts) > maxParts {
		return nil, fmt.Errorf("template %q: more than %d parts", src, maxParts)
	}
	return t, nil
}

func placeholder(name string, body bool) (part, error) {
	switch {
	case name == "body":
		if !body {
			return part{}, errors.New("{body} is the raw body and stands only in signed")
		}
		return part{kind: partBody}, nil
	case name == "notification_url":
		return part{kind: partNotificationURL}, nil
	case strings.HasPrefix(name, "signature.") && len(name) > len("signature."):
		return part{kind: partField, text: name[len("signature."):]}, nil
	}
	for _, prefix := range []string{"http.request.header.", "header."} {
		if h, ok := strings.CutPrefix(name, prefix); ok && validHeaderName(h) {
			return part{kind: partHeader, text: http.CanonicalHeaderKey(h)}, nil
		}
	}
	return part{}, fmt.Errorf("unknown placeholder {%s} (want {body}, {header.Name}, {signature.key} or {notification_url})", name)
}

// canonical is the template written one way, for the containment check.
func (t *template) canonical() string {
	var b strings.Builder
	for _, p := range t.parts {
		switch p.kind {
		case partLiteral:
			b.WriteString(strings.NewReplacer("{", `\{`, "}", `\}`).Replace(p.text))
		case partBody:
			b.WriteString("{body}")
		case partHeader:
			b.WriteString("{header." + p.text + "}")
		case partField:
			b.WriteString("{signature." + p.text + "}")
		case partNotificationURL:
			b.WriteString("{notification_url}")
		}
	}
	return b.String()
}

// contains reports whether sub is written inside t.
func (t *template) contains(sub *template) bool {
	return strings.Contains(t.canonical(), sub.canonical())
}

// resolve fills vals with the value of every part but {body}; ok is false
// when a header is absent, empty or repeated, or a field is absent.
func (t *template) resolve(v *Verifier, h http.Header, fields *fieldList, vals *[maxParts]string) bool {
	for i, p := range t.parts {
		var ok bool
		switch p.kind {
		case partLiteral:
			vals[i], ok = p.text, true
		case partBody:
			ok = true
		case partHeader:
			vals[i], ok = v.headerValue(h, p.text)
		case partField:
			vals[i], ok = fields.get(p.text)
		case partNotificationURL:
			vals[i], ok = v.notifyURL, true
		}
		if !ok {
			return false
		}
	}
	return true
}

// write feeds the resolved template into h.
func (t *template) write(h hash.Hash, body []byte, vals *[maxParts]string) {
	for i, p := range t.parts {
		if p.kind == partBody {
			h.Write(body)
		} else {
			writeString(h, vals[i])
		}
	}
}

// appendTo is write for Ed25519, which signs one message.
func (t *template) appendTo(dst, body []byte, vals *[maxParts]string) []byte {
	for i, p := range t.parts {
		if p.kind == partBody {
			dst = append(dst, body...)
		} else {
			dst = append(dst, vals[i]...)
		}
	}
	return dst
}

// size is the length of the resolved message.
func (t *template) size(body []byte, vals *[maxParts]string) int {
	n := 0
	for i, p := range t.parts {
		if p.kind == partBody {
			n += len(body)
		} else {
			n += len(vals[i])
		}
	}
	return n
}

// headerValue is the one value of a header the scheme reads, or of its
// alternate when it is absent.
func (v *Verifier) headerValue(h http.Header, name string) (string, bool) {
	vs := h[name]
	if len(vs) == 0 {
		if alt, ok := v.alternates[name]; ok {
			vs = h[alt]
		}
	}
	if len(vs) != 1 || vs[0] == "" {
		return "", false
	}
	return vs[0], true
}

// CheckTemplate reports the errors of a signed template (body true) or a
// timestamp template on its own, for the Caddyfile to point at its line.
func CheckTemplate(src string, body bool) error {
	_, err := parseTemplate(src, body)
	return err
}
