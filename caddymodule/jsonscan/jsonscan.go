// Package jsonscan reads a few fields of a JSON document in one pass over its
// bytes, without decoding it.
//
// The templates of callback_guard ({json.payload.payment.paymentId}) read a
// handful of fields of every request body. Decoding the body into a
// map[string]any costs about a dozen allocations per request; walking the
// bytes once costs none for the skipped parts and one per returned value.
//
// The results are defined to be exactly what encoding/json gives when the
// whole body is decoded into map[string]any (with UseNumber) and the path is
// followed through the nested maps, so a template resolves to the same value
// whichever way it is computed:
//
//   - the document must be valid JSON as json.Valid sees it (one value,
//     surrounding whitespace, nothing after it, at most 10000 nested arrays
//     and objects), otherwise nothing is found, even a field that came before
//     the error;
//   - of duplicate keys the last one wins, and it replaces the whole earlier
//     value (no merging of objects);
//   - keys match exactly on their unescaped text, with invalid UTF-8 replaced
//     by U+FFFD as encoding/json does.
package jsonscan

import (
	"strings"
	"unicode/utf8"
)

// Split turns a dotted template path such as "payload.payment.paymentId" into
// its keys. Every dot separates two keys, so a key containing a dot cannot be
// named this way (pass the keys to Lookup directly instead); Split("") is the
// single empty key [""], as in strings.Split.
func Split(dotted string) []string {
	return strings.Split(dotted, ".")
}

// Lookup returns the value at path (a sequence of object keys from the
// top-level object) in doc.
//
// ok is false when doc is not valid JSON (json.Valid false), when the top
// level or an intermediate value is not an object, or when a key is absent.
// An empty path names the top-level object itself.
//
// The value is rendered as a template shows it: a string unescaped exactly as
// encoding/json decodes it (surrogate pairs joined, lone surrogates and invalid
// UTF-8 replaced by U+FFFD); a number as its literal text (json.Number);
// "true" or "false"; null as "" with ok true; an object or array as its raw
// JSON text, bytes as in doc without surrounding whitespace.
//
// The returned string never shares memory with doc, so doc may be reused;
// it costs one allocation (none for null, booleans and the empty string).
func Lookup(doc []byte, path ...string) (value string, ok bool) {
	var ts [1]target
	ts[0].keys = path
	if !scan(doc, ts[:]) || !ts[0].found {
		return "", false
	}
	return render(doc, &ts[0]), true
}

// LookupAll looks up many paths in one pass over doc: values[i] and found[i]
// answer paths[i] by Lookup's rules. values and found must be at least as long
// as paths. It returns false, with every found false and every value "", when
// doc is not valid JSON.
//
// The values are substrings of one string allocated for all of them (when
// they fit in 1 KiB, else a few), so keeping one value keeps that string.
func LookupAll(doc []byte, paths [][]string, values []string, found []bool) bool {
	if len(values) < len(paths) || len(found) < len(paths) {
		panic("jsonscan: LookupAll: values and found shorter than paths")
	}
	var tbuf [8]target
	ts := targets(&tbuf, paths)
	valid := scan(doc, ts)
	// Render every found value into one buffer, then make one string of it;
	// start and end of each target now delimit its text in that buffer.
	var vbuf [1024]byte
	text := vbuf[:0]
	for k := range ts {
		t := &ts[k]
		values[k], found[k] = "", false
		if !valid || !t.found {
			continue
		}
		found[k] = true
		if s, ok := constant(doc[t.start]); ok {
			values[k], t.found = s, false
			continue
		}
		n := len(text)
		text = appendValue(text, doc, t)
		t.start, t.end = n, len(text)
	}
	all := string(text)
	for k := range ts {
		if t := &ts[k]; valid && t.found {
			values[k] = all[t.start:t.end]
		}
	}
	return valid
}

// constant gives the text of the values that need no allocation: null (an
// empty text), true and false.
func constant(first byte) (string, bool) {
	switch first {
	case 'n':
		return "", true
	case 't':
		return "true", true
	case 'f':
		return "false", true
	}
	return "", false
}

// render turns the value scan captured for t into its own string.
func render(doc []byte, t *target) string {
	if s, ok := constant(doc[t.start]); ok {
		return s
	}
	if doc[t.start] == '"' && t.flags == 0 {
		return string(doc[t.start+1 : t.end-1])
	}
	var buf [512]byte
	return string(appendValue(buf[:0], doc, t))
}

// appendValue appends the text of a captured string, number, object or array:
// a string unescaped, the others as their raw bytes.
func appendValue(dst, doc []byte, t *target) []byte {
	v := doc[t.start:t.end]
	if v[0] != '"' {
		return append(dst, v...)
	}
	v = v[1 : len(v)-1]
	if t.flags == 0 || (t.flags == strHigh && utf8.Valid(v)) {
		return append(dst, v...)
	}
	return appendUnquoted(dst, v)
}

// LookupRaw is Lookup without rendering: it returns the JSON text of the value
// at path, exactly as it stands in doc and without the whitespace around it (a
// string with its quotes and escapes, a number as its literal, true, false,
// null, an object or array whole). ok follows Lookup's rules, so the first
// byte of raw tells the value's JSON type, which Lookup's rendering loses
// ("1" and 1 render alike).
//
// raw is a subslice of doc (its capacity clipped to its length): it costs no
// allocation and is valid as long as doc is left unchanged.
func LookupRaw(doc []byte, path ...string) (raw []byte, ok bool) {
	var ts [1]target
	ts[0].keys = path
	if !scan(doc, ts[:]) || !ts[0].found {
		return nil, false
	}
	return doc[ts[0].start:ts[0].end:ts[0].end], true
}

// targets makes one scan target per path, in buf when they fit (so that a
// few paths cost no allocation).
func targets(buf *[8]target, paths [][]string) []target {
	var ts []target
	if len(paths) <= len(buf) {
		ts = buf[:len(paths)]
	} else {
		ts = make([]target, len(paths))
	}
	for k, p := range paths {
		ts[k].keys = p
	}
	return ts
}

// LookupAllRaw looks up many paths in one pass over doc: raws[i] answers
// paths[i] by LookupRaw's rules, nil when not found (a found value is never
// empty). raws must be at least as long as paths. It returns false, with
// every raw nil, when doc is not valid JSON. It allocates nothing for up to
// 8 paths.
func LookupAllRaw(doc []byte, paths [][]string, raws [][]byte) bool {
	if len(raws) < len(paths) {
		panic("jsonscan: LookupAllRaw: raws shorter than paths")
	}
	var tbuf [8]target
	ts := targets(&tbuf, paths)
	valid := scan(doc, ts)
	for k := range ts {
		raws[k] = nil
		if t := &ts[k]; valid && t.found {
			raws[k] = doc[t.start:t.end:t.end]
		}
	}
	return valid
}
