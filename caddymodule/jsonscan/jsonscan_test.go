package jsonscan

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

const globiancePayment = `{"event":"refund success","checkoutId":"1234567890","storeId":"store123","type":"payment",` +
	`"payload":{"payment":{"paymentId":"payment123","amount":"100.00","currency":"USD","status":"refunded",` +
	`"customer":{"name":"John Doe","email":"john@example.com"},"timestamp":"2023-05-30T12:34:56Z"}}}`

const globianceCheckout = `{"event":"completed","checkoutId":"9876543210","storeId":"store123","type":"checkout",` +
	`"payload":{"checkout":{"checkoutId":"9876543210","amount":"250.00","currency":"EUR","items":[{"sku":"A1","qty":2}]}}}`

const avarda = `{"purchaseId":"489ea341e23941089e6d0378c708512a"}`

var globiancePaths = [][]string{
	Split("type"), Split("event"), Split("checkoutId"),
	Split("payload.payment.paymentId"), Split("payload.payment.timestamp"),
}

type lookupCase struct {
	name string
	doc  string
	path []string
	want string
	ok   bool
}

func p(dotted string) []string { return Split(dotted) }

var lookupCases = []lookupCase{
	// Shapes of real callbacks.
	{"globiance type", globiancePayment, p("type"), "payment", true},
	{"globiance event", globiancePayment, p("event"), "refund success", true},
	{"globiance checkoutId", globiancePayment, p("checkoutId"), "1234567890", true},
	{"globiance paymentId", globiancePayment, p("payload.payment.paymentId"), "payment123", true},
	{"globiance timestamp", globiancePayment, p("payload.payment.timestamp"), "2023-05-30T12:34:56Z", true},
	{"globiance payment object", globiancePayment, p("payload.payment.customer"), `{"name":"John Doe","email":"john@example.com"}`, true},
	{"globiance checkout no payment", globianceCheckout, p("payload.payment.paymentId"), "", false},
	{"globiance checkout type", globianceCheckout, p("type"), "checkout", true},
	{"globiance checkout items", globianceCheckout, p("payload.checkout.items"), `[{"sku":"A1","qty":2}]`, true},
	{"avarda", avarda, p("purchaseId"), "489ea341e23941089e6d0378c708512a", true},
	{"avarda missing", avarda, p("purchaseid"), "", false},

	// Paths.
	{"nested", `{"a":{"b":{"c":"d"}}}`, p("a.b.c"), "d", true},
	{"nested missing leaf", `{"a":{"b":{"c":"d"}}}`, p("a.b.x"), "", false},
	{"nested missing middle", `{"a":{"b":{"c":"d"}}}`, p("a.x.c"), "", false},
	{"too deep", `{"a":{"b":"s"}}`, p("a.b.c"), "", false},
	{"key in sibling object", `{"x":{"b":1},"a":{}}`, p("a.b"), "", false},
	{"key deeper than path", `{"a":{"x":{"b":1}}}`, p("a.b"), "", false},
	{"empty key", `{"":{"":"e"}}`, p("."), "e", true},
	{"empty path", ` {"a":1} `, nil, `{"a":1}`, true},
	{"empty path array", `[1]`, nil, "", false},
	{"array on path", `{"a":[{"b":1}]}`, p("a.b"), "", false},
	{"array index is no key", `{"a":[{"b":1}]}`, p("a.0.b"), "", false},
	{"array value", `{"a":[1, 2 ,3]}`, p("a"), `[1, 2 ,3]`, true},
	{"array of objects skipped", `{"x":[{"a":1},{"a":2}],"a":3}`, p("a"), "3", true},
	{"empty object value", `{"a":{}}`, p("a"), `{}`, true},
	{"empty array value", `{"a":[]}`, p("a"), `[]`, true},
	{"object value whitespace trimmed", "{\"a\": \n { \"b\" : 1 } \t,\"c\":2}", p("a"), `{ "b" : 1 }`, true},
	{"case sensitive", `{"Type":"x"}`, p("type"), "", false},
	{"key prefix", `{"typeX":"x","typ":"y"}`, p("type"), "", false},
	{"dotted key not split", `{"a.b":1}`, []string{"a.b"}, "1", true},
	{"dotted key via Split", `{"a.b":1}`, p("a.b"), "", false},

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
	{"top string", `"a"`, p("a"), "", false},
	{"top number", `1`, p("a"), "", false},
	{"top null", `null`, p("a"), "", false},
}

func TestLookup(t *testing.T) {
	for _, tc := range lookupCases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Lookup([]byte(tc.doc), tc.path...)
			if got != tc.want || ok != tc.ok {
				t.Errorf("Lookup(%q, %q) = %q, %v; want %q, %v", tc.doc, tc.path, got, ok, tc.want, tc.ok)
			}
			checkLookup(t, []byte(tc.doc), tc.path)
		})
	}
}

func TestLookupAllGlobiance(t *testing.T) {
	values := make([]string, len(globiancePaths))
	found := make([]bool, len(globiancePaths))
	if !LookupAll([]byte(globiancePayment), globiancePaths, values, found) {
		t.Fatal("payment webhook reported invalid")
	}
	want := []string{"payment", "refund success", "1234567890", "payment123", "2023-05-30T12:34:56Z"}
	if !reflect.DeepEqual(values, want) || !reflect.DeepEqual(found, []bool{true, true, true, true, true}) {
		t.Errorf("payment webhook: %q %v", values, found)
	}
	if !LookupAll([]byte(globianceCheckout), globiancePaths, values, found) {
		t.Fatal("checkout event reported invalid")
	}
	want = []string{"checkout", "completed", "9876543210", "", ""}
	if !reflect.DeepEqual(values, want) || !reflect.DeepEqual(found, []bool{true, true, true, false, false}) {
		t.Errorf("checkout event: %q %v", values, found)
	}
}

// TestLookupAllAgrees runs every table document against all the table paths
// at once, with overlapping paths (a and a.b) and more than 8 of them.
func TestLookupAllAgrees(t *testing.T) {
	var paths [][]string
	seen := map[string]bool{}
	for _, tc := range lookupCases {
		if k := strings.Join(tc.path, "\x00") + "|" + string(rune(len(tc.path))); !seen[k] {
			seen[k] = true
			paths = append(paths, tc.path)
		}
	}
	for _, tc := range lookupCases {
		checkLookupAll(t, []byte(tc.doc), paths)
		checkLookupAll(t, []byte(tc.doc), paths[:3])
		checkLookupAll(t, []byte(tc.doc), nil)
	}
}

func TestLookupAllShortSlicesPanic(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	LookupAll([]byte(avarda), globiancePaths, make([]string, 1), make([]bool, 5))
}

// TestDeepNesting pins the nesting limit to json.Valid's: 10000 open arrays
// and objects are fine, 10001 are not, and neither costs a deep call stack.
func TestDeepNesting(t *testing.T) {
	objects := func(n int) string {
		return strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n)
	}
	arrays := func(n int) string {
		return `{"a":` + strings.Repeat("[", n-1) + strings.Repeat("]", n-1) + "}"
	}
	for _, tc := range []struct {
		doc   string
		path  []string
		valid bool
	}{
		{objects(10000), p(strings.Repeat("a.", 9999) + "a"), true},
		{objects(10001), p(strings.Repeat("a.", 10000) + "a"), false},
		{objects(10000), p("a.a.a"), true},
		{objects(10001), p("a"), false},
		{arrays(10000), p("a"), true},
		{arrays(10001), p("a"), false},
		{strings.Repeat("[", 1_000_000), p("a"), false},
		{strings.Repeat(`{"a":`, 1_000_000), p("a"), false},
	} {
		doc := []byte(tc.doc)
		if json.Valid(doc) != tc.valid {
			t.Fatalf("json.Valid of %d bytes is %v; the test assumes %v", len(doc), !tc.valid, tc.valid)
		}
		_, ok := Lookup(doc, tc.path...)
		if ok != tc.valid {
			t.Errorf("deep document of %d bytes, path of %d keys: ok = %v, want %v", len(doc), len(tc.path), ok, tc.valid)
		}
		if len(doc) < 100_000 && len(tc.path) < 10 { // the reference walk is quadratic
			checkLookup(t, doc, tc.path)
		}
	}
	v, ok := Lookup([]byte(objects(10000)), p(strings.Repeat("a.", 9999)+"a")...)
	if v != "1" || !ok {
		t.Errorf("deepest value = %q, %v", v, ok)
	}
}

func TestSplit(t *testing.T) {
	for in, want := range map[string][]string{
		"payload.payment.paymentId": {"payload", "payment", "paymentId"},
		"type":                      {"type"},
		"":                          {""},
		"a..b":                      {"a", "", "b"},
	} {
		if got := Split(in); !reflect.DeepEqual(got, want) {
			t.Errorf("Split(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestAllocs holds the allocation promises: skipping costs nothing, a value
// costs one allocation, null and booleans none.
func TestAllocs(t *testing.T) {
	doc := []byte(globiancePayment)
	for _, tc := range []struct {
		path []string
		want float64
	}{
		{p("payload.payment.paymentId"), 1},
		{p("payload.payment"), 1},
		{p("absent"), 0},
	} {
		if n := testing.AllocsPerRun(100, func() { Lookup(doc, tc.path...) }); n != tc.want {
			t.Errorf("Lookup %q: %v allocations, want %v", tc.path, n, tc.want)
		}
	}
	esc := []byte(`{"a":"\u00e9t\u00e9 \ud83d\ude00","b":true,"c":null}`)
	for _, k := range []string{"a", "b", "c"} {
		want := 0.0
		if k == "a" {
			want = 1
		}
		if n := testing.AllocsPerRun(100, func() { Lookup(esc, k) }); n != want {
			t.Errorf("Lookup %q: %v allocations, want %v", k, n, want)
		}
	}
	values, found := make([]string, 5), make([]bool, 5)
	if n := testing.AllocsPerRun(100, func() { LookupAll(doc, globiancePaths, values, found) }); n != 1 {
		t.Errorf("LookupAll: %v allocations, want 1", n)
	}
	deep := []byte(strings.Repeat("[", 500) + strings.Repeat("]", 500))
	if n := testing.AllocsPerRun(100, func() { Lookup(deep, "a") }); n != 0 {
		t.Errorf("Lookup in 500 nested arrays: %v allocations, want 0", n)
	}
}
