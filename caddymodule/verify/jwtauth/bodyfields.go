package jwtauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/textproto"
	"strings"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/encoding/unicode/utf32"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
)

// jsonFields adds every top-level field of a JSON object body whose key is
// a token name in any case (see sameName), duplicates included (a decode
// into a map would keep only the last). The body is read as the JSON
// parsers of backends read it: without a UTF-8 byte order mark (Python's
// json.loads and Node's body-parser drop it), and, when it holds a NUL byte
// (which no UTF-8 JSON text does) or starts with a UTF-16 or UTF-32 byte
// order mark, decoded as each of those encodings. A decoding that is not
// JSON holds no field, so counting every decoding misses none.
func (v *Verifier) jsonFields(found []field, body []byte) []field {
	body = bytes.TrimPrefix(body, utf8BOM)
	if bytes.IndexByte(body, 0) < 0 && !bytes.HasPrefix(body, []byte{0xFF, 0xFE}) && !bytes.HasPrefix(body, []byte{0xFE, 0xFF}) {
		return v.jsonObjectFields(found, body)
	}
	for _, enc := range unicodeEncodings {
		if text, err := enc.NewDecoder().Bytes(body); err == nil {
			found = v.jsonObjectFields(found, bytes.TrimPrefix(text, utf8BOM))
		}
	}
	return found
}

var utf8BOM = []byte("\uFEFF")

// unicodeEncodings are the encodings other than UTF-8 that Python's
// json.loads finds in a byte string, and that Node's body-parser decodes
// under a charset=utf-16 or utf-32 parameter; a byte order mark at the
// start overrides the order given.
var unicodeEncodings = []encoding.Encoding{
	unicode.UTF16(unicode.LittleEndian, unicode.UseBOM),
	unicode.UTF16(unicode.BigEndian, unicode.UseBOM),
	utf32.UTF32(utf32.LittleEndian, utf32.UseBOM),
	utf32.UTF32(utf32.BigEndian, utf32.UseBOM),
}

// declaresUTF7 reports whether a Content-Type names a UTF-7 charset
// ("utf-7", "UTF-7-IMAP", quoted or not, wherever the parameter is): Node's
// body-parser decodes a JSON body in any charset whose name starts "utf-",
// and in UTF-7 a field's name need not appear as text, so the guard could
// not count it.
func declaresUTF7(contentType string) bool {
	lower := strings.ToLower(contentType)
	for {
		i := strings.Index(lower, "charset=")
		if i < 0 {
			return false
		}
		lower = lower[i+len("charset="):]
		name := strings.TrimLeft(lower, "\" ")
		if j := strings.IndexAny(name, ";,\" \t"); j >= 0 {
			name = name[:j]
		}
		name = strings.Map(func(r rune) rune {
			if 'a' <= r && r <= 'z' || '0' <= r && r <= '9' {
				return r
			}
			return -1
		}, name)
		if strings.HasPrefix(name, "utf7") {
			return true
		}
	}
}

// jsonObjectFields adds the token fields of one JSON text, which must be
// valid JSON as encoding/json sees it.
func (v *Verifier) jsonObjectFields(found []field, text []byte) []field {
	if t := bytes.TrimLeft(text, " \t\r\n"); len(t) == 0 || t[0] != '{' || !json.Valid(text) {
		return found
	}
	dec := json.NewDecoder(bytes.NewReader(text))
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

// multipartFields adds every part of a multipart/form-data body that names
// a token field, as Go's FormName reads the Content-Disposition or as PHP
// does (phpPartName), under any name formName counts: PHP fills $_POST
// from such parts, as Go's ParseMultipartForm does. A part is never taken
// as the token (no source reads multipart); it only counts. A part whose
// headers or Content-Disposition Go cannot parse is malformed_token:
// another parser could find a field in it.
func (v *Verifier) multipartFields(found []field, body []byte, contentType string) ([]field, *verify.Failure) {
	if verify.MediaType(contentType) != "multipart/form-data" {
		return found, nil
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
		return found, nil
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	for {
		part, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			// The end, or no boundary at all: PHP reads no part there either.
			return found, nil
		}
		if err != nil {
			return found, verify.Fail(verify.ReasonMalformedToken, "the multipart body does not parse")
		}
		names, ok := partNames(part.Header)
		if !ok {
			return found, verify.Fail(verify.ReasonMalformedToken, "a multipart part's Content-Disposition does not parse")
		}
		for _, n := range names {
			if name, _, ok := v.formName(inForm, n); ok {
				found = append(found, field{place: inForm, name: name, state: holdsGarbage})
				break
			}
		}
	}
}

// partNames is the field name of a multipart part as Go reads it (with
// RFC 2231's name*= decoded, whatever the disposition type) and as PHP
// does; ok is false when the part has more than one Content-Disposition
// (one spelled with white space before the colon included) or Go cannot
// parse it.
func partNames(h textproto.MIMEHeader) (names [2]string, ok bool) {
	for k := range h {
		if k != "Content-Disposition" && strings.EqualFold(strings.TrimSpace(k), "Content-Disposition") {
			return names, false // "Content-Disposition :", which Go keeps as another header
		}
	}
	cds := h.Values("Content-Disposition")
	switch len(cds) {
	case 0:
		return names, true // no parser reads a part without one as a field
	case 1:
	default:
		return names, false
	}
	_, params, err := mime.ParseMediaType(cds[0])
	if err != nil {
		return names, false
	}
	return [2]string{params["name"], phpPartName(cds[0])}, true
}

// phpPartName is the name PHP's multipart parser (main/rfc1867.c) reads in
// a Content-Disposition: the parameters split at ';' outside quotes, the
// last whose key is "name" in any case, its value in double or single quotes
// (a backslash escapes the quote or itself) or up to white space.
func phpPartName(cd string) string {
	var name string
	for cd = strings.TrimLeft(cd, phpSpace); cd != ""; cd = strings.TrimLeft(cd, phpSpace) {
		var pair string
		pair, cd = phpWord(cd, ';')
		if key, val, ok := strings.Cut(pair, "="); ok && strings.EqualFold(key, "name") {
			name = phpParamValue(val)
		}
	}
	return name
}

// phpSpace is C's isspace.
const phpSpace = " \t\n\v\f\r"

// phpWord cuts s at the first stop byte outside double or single quotes.
func phpWord(s string, stop byte) (word, rest string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case stop:
			return s[:i], s[i+1:]
		case '"', '\'':
			for i++; i < len(s) && s[i] != c; i++ {
				if s[i] == '\\' && i+1 < len(s) && s[i+1] == c {
					i++
				}
			}
		}
	}
	return s, ""
}

// phpParamValue reads a parameter's value as PHP's php_ap_getword_conf.
func phpParamValue(s string) string {
	s = strings.TrimLeft(s, phpSpace)
	var quote byte
	if s != "" && (s[0] == '"' || s[0] == '\'') {
		quote, s = s[0], s[1:]
	} else if i := strings.IndexAny(s, phpSpace); i >= 0 {
		s = s[:i]
	}
	var b strings.Builder
	for i := 0; i < len(s) && (quote == 0 || s[i] != quote); i++ {
		if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '\\' || quote != 0 && s[i+1] == quote) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
