package template

import (
	"encoding/json"
	"strconv"

	"github.com/tidwall/gjson"
)

// jsonDoc is a JSON document the templates read fields of. It is walked in
// place with gjson, which skips what a path does not name without decoding
// it; encoding/json decides what is valid and decodes the strings a path
// compares or returns, so that a template sees what a Go, PHP, Node or Python
// backend decoding the same bytes sees.
type jsonDoc struct {
	root gjson.Result
	ok   bool // a valid JSON document
}

func parseJSON(doc []byte) jsonDoc {
	if len(doc) == 0 || !json.Valid(doc) {
		return jsonDoc{}
	}
	return jsonDoc{root: gjson.Parse(string(doc)), ok: true}
}

// lookup follows path from the top of the document: a key of an object, or
// a decimal index of an array. Of duplicate keys the last wins, as
// encoding/json, PHP, Node and Python decode them.
//
// The value is rendered as a template shows it: a string decoded; a number
// as written; "true" or "false"; null as ""; an object or array as its JSON
// text. ok is false when the path names nothing.
func (d *jsonDoc) lookup(path []string) (string, bool) {
	if !d.ok {
		return "", false
	}
	cur := d.root
	for _, k := range path {
		next, found := child(cur, k)
		if !found {
			return "", false
		}
		cur = next
	}
	switch cur.Type {
	case gjson.String:
		return decodeString(cur.Raw), true
	case gjson.Null:
		return "", true
	}
	return cur.Raw, true
}

// child is the value under key k of an object, or at index k of an array.
func child(v gjson.Result, k string) (gjson.Result, bool) {
	var found gjson.Result
	ok := false
	switch {
	case v.IsObject():
		v.ForEach(func(key, val gjson.Result) bool {
			if decodeString(key.Raw) == k {
				found, ok = val, true
			}
			return true
		})
	case v.IsArray():
		i, err := strconv.ParseUint(k, 10, 31)
		if err != nil || strconv.FormatUint(i, 10) != k {
			return found, false // not an index as written: no sign, no leading zero
		}
		v.ForEach(func(key, val gjson.Result) bool {
			if key.Num == float64(i) {
				found, ok = val, true
				return false
			}
			return true
		})
	}
	return found, ok
}

// decodeString decodes a JSON string literal of a valid document as
// encoding/json does (surrogate pairs joined, lone surrogates and invalid
// UTF-8 replaced by U+FFFD). A literal of plain ASCII without escapes, the
// usual key or id, is its own text and costs nothing.
func decodeString(lit string) string {
	body := lit[1 : len(lit)-1]
	for i := 0; i < len(body); i++ {
		if c := body[i]; c == '\\' || c >= 0x80 {
			var s string
			if json.Unmarshal([]byte(lit), &s) != nil {
				return "" // not reached: the document is valid
			}
			return s
		}
	}
	return body
}
