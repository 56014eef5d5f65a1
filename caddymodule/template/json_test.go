package template

import (
	"bytes"
	"encoding/json"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const globiancePaymentFull = `{"event":"refund success","checkoutId":"1234567890","storeId":"store123","type":"payment",` +
	`"payload":{"payment":{"paymentId":"payment123","amount":"100.00","currency":"USD","status":"refunded",` +
	`"customer":{"name":"John Doe","email":"john@example.com"},"timestamp":"2023-05-30T12:34:56Z"}}}`

const globianceCheckoutFull = `{"event":"completed","checkoutId":"9876543210","storeId":"store123","type":"checkout",` +
	`"payload":{"checkout":{"checkoutId":"9876543210","amount":"250.00","currency":"EUR","items":[{"sku":"A1","qty":2}]}}}`

const avarda = `{"purchaseId":"489ea341e23941089e6d0378c708512a"}`

type jsonCase struct {
	name string
	doc  string
	path []string
	want string
	ok   bool
}

func p(dotted string) []string { return strings.Split(dotted, ".") }

var jsonCases = []jsonCase{
	// Shapes of real callbacks.
	{"globiance type", globiancePaymentFull, p("type"), "payment", true},
	{"globiance event", globiancePaymentFull, p("event"), "refund success", true},
	{"globiance checkoutId", globiancePaymentFull, p("checkoutId"), "1234567890", true},
	{"globiance paymentId", globiancePaymentFull, p("payload.payment.paymentId"), "payment123", true},
	{"globiance timestamp", globiancePaymentFull, p("payload.payment.timestamp"), "2023-05-30T12:34:56Z", true},
	{"globiance payment object", globiancePaymentFull, p("payload.payment.customer"), `{"name":"John Doe","email":"john@example.com"}`, true},
	{"globiance checkout no payment", globianceCheckoutFull, p("payload.payment.paymentId"), "", false},
	{"globiance checkout type", globianceCheckoutFull, p("type"), "checkout", true},
	{"globiance checkout items", globianceCheckoutFull, p("payload.checkout.items"), `[{"sku":"A1","qty":2}]`, true},
	{"avarda", avarda, p("purchaseId"), "489ea341e23941089e6d0378c708512a", true},
	{"avarda missing", avarda, p("purchaseid"), "", false},

	// Paths.
	{"nested", `{"a":{"b":{"c":"d"}}}`, p("a.b.c"), "d", true},
	{"nested missing leaf", `{"a":{"b":{"c":"d"}}}`, p("a.b.x"), "", false},
	{"nested missing middle", `{"a":{"b":{"c":"d"}}}`, p("a.x.c"), "", false},
	{"too deep", `{"a":{"b":"s"}}`, p("a.b.c"), "", false},
	{"key in sibling object", `{"x":{"b":1},"a":{}}`, p("a.b"), "", false},
	{"key deeper than path", `{"a":{"x":{"b":1}}}`, p("a.b"), "", false},
	{"empty key", `{"":{"":"e"}}`, []string{"", ""}, "e", true},
	{"array on path", `{"a":[{"b":1}]}`, p("a.b"), "", false},
	{"array index", `{"a":[{"b":1}]}`, p("a.0.b"), "1", true},
	{"array index out of range", `{"a":[{"b":1}]}`, p("a.1.b"), "", false},
	{"array index with a sign", `{"a":[7]}`, p("a.+0"), "", false},
	{"array index with a leading zero", `{"a":[7,8]}`, p("a.01"), "", false},
	{"array second element", `{"items":[{"id":"a"},{"id":"b"}]}`, p("items.1.id"), "b", true},
	{"number key of an object", `{"a":{"0":"zero"}}`, p("a.0"), "zero", true},
	{"array value", `{"a":[1, 2 ,3]}`, p("a"), `[1, 2 ,3]`, true},
	{"array of objects skipped", `{"x":[{"a":1},{"a":2}],"a":3}`, p("a"), "3", true},
	{"empty object value", `{"a":{}}`, p("a"), `{}`, true},
	{"empty array value", `{"a":[]}`, p("a"), `[]`, true},
	{"object value whitespace trimmed", "{\"a\": \n { \"b\" : 1 } \t,\"c\":2}", p("a"), `{ "b" : 1 }`, true},
	{"case sensitive", `{"Type":"x"}`, p("type"), "", false},
	{"key prefix", `{"typeX":"x","typ":"y"}`, p("type"), "", false},
	{"dotted key not split", `{"a.b":1}`, []string{"a.b"}, "1", true},
	{"dotted key as a path", `{"a.b":1}`, p("a.b"), "", false},

	// Scalars.
	{"null", `{"a":null}`, p("a"), "", true},
	{"null intermediate", `{"a":null}`, p("a.b"), "", false},
	{"true", `{"a":true}`, p("a"), "true", true},
	{"false", `{"a":false}`, p("a"), "false", true},
	{"int", `{"a":42}`, p("a"), "42", true},
	{"minus zero", `{"a":-0}`, p("a"), "-0", true},
	{"exponent", `{"a":1e10}`, p("a"), "1e10", true},
	{"fraction exponent", `{"a":1.5E-3}`, p("a"), "1.5E-3", true},
	{"exponent plus", `{"a":-2.50e+07}`, p("a"), "-2.50e+07", true},
	{"big int", `{"a":123456789012345678901234567890}`, p("a"), "123456789012345678901234567890", true},
	{"number then brace", `{"a":0}`, p("a"), "0", true},
	{"empty string", `{"a":""}`, p("a"), "", true},

	// Strings.
	{"every escape", `{"a":"q\"b\\s\/b\bf\fn\nr\rt\tu\u0041\u00e9\u20ac"}`, p("a"), "q\"b\\s/b\bf\fn\nr\rt\tuAé€", true},
	{"surrogate pair", `{"a":"\ud83d\ude00"}`, p("a"), "😀", true},
	{"surrogate pair upper hex", `{"a":"\uD83D\uDE00!"}`, p("a"), "😀!", true},
	{"lone high", `{"a":"\ud83dx"}`, p("a"), "\uFFFDx", true},
	{"lone high at end", `{"a":"\ud83d"}`, p("a"), "\uFFFD", true},
	{"lone low", `{"a":"\ude00\ud83d\ude00"}`, p("a"), "\uFFFD😀", true},
	{"high high low", `{"a":"\ud83d\ud83d\ude00"}`, p("a"), "\uFFFD😀", true},
	{"high then escape", `{"a":"\ud83d\n"}`, p("a"), "\uFFFD\n", true},
	{"high then bmp escape", `{"a":"\ud83d\u0041"}`, p("a"), "\uFFFDA", true},
	{"escaped nul", `{"a":"\u0000"}`, p("a"), "\x00", true},
	{"raw utf8", `{"a":"héllo 😀"}`, p("a"), "héllo 😀", true},
	{"invalid utf8 byte", "{\"a\":\"x\xffy\"}", p("a"), "x\uFFFDy", true},
	{"truncated utf8", "{\"a\":\"\xe2\x82\"}", p("a"), "\uFFFD\uFFFD", true},
	{"utf8 surrogate", "{\"a\":\"\xed\xa0\x80\"}", p("a"), "\uFFFD\uFFFD\uFFFD", true},
	{"invalid utf8 and escape", "{\"a\":\"\xff\\n\"}", p("a"), "\uFFFD\n", true},
	{"del allowed", "{\"a\":\"\x7f\"}", p("a"), "\x7f", true},
	{"braces in string", `{"x":"}{][,:\"","a":"ok"}`, p("a"), "ok", true},

	// Keys.
	{"escaped key", `{"a\u0062":1}`, p("ab"), "1", true},
	{"escaped key slash", `{"a\/b":1}`, []string{"a/b"}, "1", true},
	{"escaped key raw no match", `{"a\u0062":1}`, []string{`a\u0062`}, "", false},
	{"invalid utf8 key", "{\"\xff\":1}", []string{"\uFFFD"}, "1", true},
	{"invalid utf8 key raw no match", "{\"\xff\":1}", []string{"\xff"}, "", false},
	{"lone surrogate key", `{"\ud800":1}`, []string{"\uFFFD"}, "1", true},
	{"long escaped key", `{"` + strings.Repeat(`\u0061`, 200) + `":1}`, []string{strings.Repeat("a", 200)}, "1", true},

	// Duplicate keys: the last wins and replaces the whole value.
	{"dup scalar", `{"a":1,"a":2}`, p("a"), "2", true},
	{"dup escaped", `{"a":1,"\u0061":2}`, p("a"), "2", true},
	{"dup scalar then object", `{"a":1,"a":{"b":2}}`, p("a.b"), "2", true},
	{"dup object then scalar", `{"a":{"b":2},"a":1}`, p("a.b"), "", false},
	{"dup object then null", `{"a":{"b":2},"a":null}`, p("a.b"), "", false},
	{"dup object then object", `{"a":{"b":2},"a":{"c":3}}`, p("a.b"), "", false},
	{"dup object then object 2", `{"a":{"b":2},"a":{"c":3,"b":4}}`, p("a.b"), "4", true},
	{"dup inner", `{"a":{"b":2,"b":5}}`, p("a.b"), "5", true},
	{"dup whole object", `{"a":{"b":2},"a":[1]}`, p("a"), "[1]", true},
	{"dup object then array", `{"a":{"b":2},"a":[{"b":3}]}`, p("a.b"), "", false},
	{"dup top level later", `{"a":{"b":{"c":1}},"x":0,"a":{"b":{"d":1}}}`, p("a.b.c"), "", false},
	{"dup null then string", `{"a":null,"a":"s"}`, p("a"), "s", true},

	// Whitespace.
	{"whitespace everywhere", " \t\r\n{ \t\r\n\"a\" \t\r\n: \t\r\n{ \n\"b\"\n:\n\"v\"\n}\n,\n\"c\" : [ ] \r\n} \t\r\n", p("a.b"), "v", true},
	{"form feed not whitespace", "{\"a\":1}\f", p("a"), "", false},
	{"nbsp not whitespace", "\u00a0{\"a\":1}", p("a"), "", false},

	// Invalid documents: nothing is found, even before the error.
	{"empty doc", ``, p("a"), "", false},
	{"only whitespace", "  \n", p("a"), "", false},
	{"trailing garbage", `{"a":1}x`, p("a"), "", false},
	{"two values", `{"a":1} {"a":2}`, p("a"), "", false},
	{"trailing comma", `{"a":1,}`, p("a"), "", false},
	{"trailing comma array", `{"a":[1,]}`, p("a"), "", false},
	{"missing comma", `{"a":1 "b":2}`, p("a"), "", false},
	{"missing colon", `{"a" 1}`, p("a"), "", false},
	{"unquoted key", `{a:1}`, p("a"), "", false},
	{"single quotes", `{'a':1}`, p("a"), "", false},
	{"unterminated string", `{"a":"x}`, p("a"), "", false},
	{"unterminated object", `{"a":1`, p("a"), "", false},
	{"unterminated after colon", `{"a":`, p("a"), "", false},
	{"unclosed array", `{"a":[1}`, p("a"), "", false},
	{"mismatched close", `{"a":[1}]`, p("a"), "", false},
	{"control char in string", "{\"a\":\"x\ny\"}", p("a"), "", false},
	{"tab in string", "{\"a\":\"x\ty\"}", p("a"), "", false},
	{"bad escape", `{"a":"\x41"}`, p("a"), "", false},
	{"single quote escape", `{"a":"\'"}`, p("a"), "", false},
	{"short unicode escape", `{"a":"\u12"}`, p("a"), "", false},
	{"bad hex", `{"a":"\u12g4"}`, p("a"), "", false},
	{"leading zeros", `{"a":01}`, p("a"), "", false},
	{"minus leading zeros", `{"a":-01}`, p("a"), "", false},
	{"plus", `{"a":+1}`, p("a"), "", false},
	{"dot first", `{"a":.5}`, p("a"), "", false},
	{"dot last", `{"a":5.}`, p("a"), "", false},
	{"bare minus", `{"a":-}`, p("a"), "", false},
	{"empty exponent", `{"a":1e}`, p("a"), "", false},
	{"exponent sign only", `{"a":1e+}`, p("a"), "", false},
	{"hex number", `{"a":0x1}`, p("a"), "", false},
	{"NaN", `{"a":NaN}`, p("a"), "", false},
	{"Infinity", `{"a":Infinity}`, p("a"), "", false},
	{"capital True", `{"a":True}`, p("a"), "", false},
	{"truncated true", `{"a":tru}`, p("a"), "", false},
	{"true suffix", `{"a":truex}`, p("a"), "", false},
	{"nul suffix", `{"a":nulll}`, p("a"), "", false},
	{"comment", `{"a":1 /* c */}`, p("a"), "", false},
	{"bom", "\ufeff{\"a\":1}", p("a"), "", false},
	{"invalid utf8 outside string", "{\"a\":1\xff}", p("a"), "", false},
	{"error after match", `{"a":1,"b":[}`, p("a"), "", false},

	// Top levels that are not objects.
	{"top array", `[{"a":1}]`, p("a"), "", false},
	{"top array index", `[{"a":1}]`, p("0.a"), "1", true},
	{"top string", `"a"`, p("a"), "", false},
	{"top number", `1`, p("a"), "", false},
	{"top null", `null`, p("a"), "", false},
}

// The JSON reader of the templates, case by case, and against encoding/json.
func TestJSONLookup(t *testing.T) {
	for _, c := range jsonCases {
		t.Run(c.name, func(t *testing.T) {
			doc := parseJSON([]byte(c.doc))
			got, ok := doc.lookup(c.path)
			if got != c.want || ok != c.ok {
				t.Fatalf("lookup(%q, %q) = %q, %v; want %q, %v", c.doc, c.path, got, ok, c.want, c.ok)
			}
			checkAgainstEncodingJSON(t, []byte(c.doc), c.path)
		})
	}
}

// Nesting at encoding/json's limit, and far past it: no crash, no answer.
func TestJSONDeepNesting(t *testing.T) {
	for _, n := range []int{9998, 9999, 10000, 10001, 1 << 20} {
		doc := []byte(`{"a":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `,"b":"t"}`)
		d := parseJSON(doc)
		if _, ok := d.lookup([]string{"b"}); ok != json.Valid(doc) {
			t.Errorf("depth %d: found %v, json.Valid %v", n+1, ok, json.Valid(doc))
		}
	}
	if d := parseJSON([]byte(strings.Repeat("[", 1<<20))); d.ok {
		t.Errorf("an unclosed deep array is valid")
	}
}

// FuzzJSONLookup holds the reader to encoding/json on every path of the
// decoded document: the same value, found or not alike.
func FuzzJSONLookup(f *testing.F) {
	for _, c := range jsonCases {
		f.Add([]byte(c.doc), strings.Join(c.path, "."))
	}
	f.Fuzz(func(t *testing.T, doc []byte, dotted string) {
		d := parseJSON(doc)
		for _, path := range append(pathsOf(doc, 24), p(dotted)) {
			d.lookup(path) // must not panic
			checkAgainstEncodingJSON(t, doc, path)
		}
	})
}

func checkAgainstEncodingJSON(t testing.TB, doc []byte, path []string) {
	t.Helper()
	want, wantOK := reference(t, doc, path)
	d := parseJSON(doc)
	got, ok := d.lookup(path)
	if got != want || ok != wantOK {
		t.Fatalf("lookup(%q, %q) = %q, %v; encoding/json gives %q, %v", doc, path, got, ok, want, wantOK)
	}
}

// reference answers the question the slow way the reader must agree with:
// json.Valid, a Decoder with UseNumber into any, the path followed through
// the maps and slices. An object or array found is checked to be JSON text
// that decodes to the value the walk found.
func reference(t testing.TB, doc []byte, path []string) (string, bool) {
	if !json.Valid(doc) {
		return "", false
	}
	v, err := decodeAny(doc)
	if err != nil {
		t.Fatalf("valid document %q does not decode: %v", doc, err)
	}
	for _, k := range path {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[k]; !ok {
				return "", false
			}
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || strconv.Itoa(i) != k || i < 0 || i >= len(x) {
				return "", false
			}
			v = x[i]
		default:
			return "", false
		}
	}
	switch x := v.(type) {
	case nil:
		return "", true
	case string:
		return x, true
	case json.Number:
		return string(x), true
	case bool:
		return strconv.FormatBool(x), true
	}
	d := parseJSON(doc)
	raw, _ := d.lookup(path)
	back, err := decodeAny([]byte(raw))
	if err != nil || !reflect.DeepEqual(back, v) {
		t.Fatalf("raw text %q of %q does not decode to %#v (err %v)", raw, doc, v, err)
	}
	return raw, true
}

func decodeAny(doc []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

// pathsOf lists paths of doc's decoded tree (at most limit, in a fixed
// order), so that fuzzing compares found values too, not only the "absent"
// answer that a random path almost always gets.
func pathsOf(doc []byte, limit int) [][]string {
	if !json.Valid(doc) {
		return nil
	}
	v, err := decodeAny(doc)
	if err != nil {
		return nil
	}
	var out [][]string
	var walk func(v any, prefix []string)
	walk = func(v any, prefix []string) {
		var keys []string
		switch x := v.(type) {
		case map[string]any:
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
		case []any:
			for i := range x {
				keys = append(keys, strconv.Itoa(i))
			}
		}
		for _, k := range keys {
			if len(out) >= limit {
				return
			}
			path := append(append([]string(nil), prefix...), k)
			out = append(out, path)
			var next any
			if m, ok := v.(map[string]any); ok {
				next = m[k]
			} else {
				i, _ := strconv.Atoi(k)
				next = v.([]any)[i]
			}
			walk(next, path)
		}
	}
	walk(v, nil)
	return out
}
