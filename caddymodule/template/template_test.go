package template

import (
	"strings"
	"testing"
)

const globiancePayment = `{"event":"refund success","checkoutId":"1234567890","storeId":"store123","type":"payment","payload":{"payment":{"paymentId":"payment123","timestamp":"2023-05-30T12:34:56Z"}}}`
const globianceCheckout = `{"event":"completed","checkoutId":"1234567890","storeId":"store123","type":"checkout","payload":{"checkoutId":"1234567890"}}`
const globianceKey = "{json.type}:{json.event}:{json.checkoutId}:{json.payload.payment.paymentId}:{json.payload.payment.timestamp}"

func TestResolve(t *testing.T) {
	claims := []byte(`{"gid":"gl_1","status":"SENT_FOR_CAPTURE","x-gl-gid":"gl_x","n":12,"ok":true,"nested":{"a":"b"},"https://x.example/c":"uri"}`)
	lookup := func(name string) (string, bool) {
		switch name {
		case "http.request.header.X-Delivery":
			return "d-42", true
		case "http.request.uri.query.id":
			return "", true
		}
		return "", false
	}
	tests := []struct {
		name     string
		tmpl     string
		optional []string
		body     string
		form     bool
		claims   []byte
		want     string
		ok       bool
	}{
		{"globiance payment", globianceKey, []string{"json.payload.payment."}, globiancePayment, false, nil,
			"payment:refund success:1234567890:payment123:2023-05-30T12:34:56Z", true},
		{"globiance checkout: payment parts may be empty", globianceKey, []string{"json.payload.payment."}, globianceCheckout, false, nil,
			"checkout:completed:1234567890::", true},
		{"without the exception, empty parts leave it unresolved", globianceKey, nil, globianceCheckout, false, nil, "", false},
		{"optional parts do not excuse required ones", globianceKey, []string{"json.payload.payment."}, `{"type":"payment"}`, false, nil, "", false},
		{"avarda", "{json.purchaseId}", nil, `{"purchaseId":"489ea341e23941089e6d0378c708512a"}`, false, nil, "489ea341e23941089e6d0378c708512a", true},
		{"json number", "n-{json.n}", nil, `{"n":1.50}`, false, nil, "n-1.50", true},
		{"json array element", "{json.items.0.id}/{json.items.1.id}", nil, `{"items":[{"id":"a"},{"id":"b"}]}`, false, nil, "a/b", true},
		{"json array element out of range", "{json.items.2.id}", nil, `{"items":[{"id":"a"},{"id":"b"}]}`, false, nil, "", false},
		{"json duplicate key: the last wins", "{json.id}", nil, `{"id":"first","id":"last"}`, false, nil, "last", true},
		{"json empty string", "x{json.id}", nil, `{"id":""}`, false, nil, "", false},
		{"json null is empty", "{json.n}", nil, `{"n":null}`, false, nil, "", false},
		{"json invalid body", "{json.n}", nil, `{"n":1`, false, nil, "", false},
		{"json on empty body", "{json.n}", nil, ``, false, nil, "", false},
		{"form field", "{form.order}", nil, "order=A%2B1&x=y", true, nil, "A+1", true},
		{"form field of a non-form body", "{form.order}", nil, "order=1", false, nil, "", false},
		{"claims", "{claim.gid}:{claim.status}", nil, "", false, claims, "gl_1:SENT_FOR_CAPTURE", true},
		{"claim with dashes", "{claim.x-gl-gid}", nil, "", false, claims, "gl_x", true},
		{"claim number and bool", "{claim.n}/{claim.ok}", nil, "", false, claims, "12/true", true},
		{"claims not JSON", "{claim.gid}", nil, "", false, []byte(`{"gid":`), "", false},
		{"nested claim", "{claim.nested.a}", nil, "", false, claims, "b", true},
		{"claim named by URI", "{claim.https://x.example/c}", nil, "", false, claims, "uri", true},
		{"missing claim", "{claim.nope}", nil, "", false, claims, "", false},
		{"no claims", "{claim.gid}", nil, "", false, nil, "", false},
		{"body sha256", "{body.sha256}", nil, "abc", false, nil, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", true},
		{"body sha256 of empty body", "{body.sha256}", nil, "", false, nil, "", false},
		{"caddy placeholder", "x:{http.request.header.X-Delivery}", nil, "", false, nil, "x:d-42", true},
		{"empty caddy placeholder", "{http.request.uri.query.id}", nil, "", false, nil, "", false},
		{"unknown caddy placeholder", "{http.nope}", nil, "", false, nil, "", false},
		{"literal", "fixed", nil, "", false, nil, "fixed", true},
		{"escaped braces", `\{x\}`, nil, "", false, nil, "{x}", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Set
			tm, err := s.Compile(tt.tmpl, tt.optional)
			if err != nil {
				t.Fatal(err)
			}
			env := Env{Set: &s, Body: []byte(tt.body), FormBody: tt.form, ClaimsJSON: tt.claims, Placeholder: lookup}
			got, ok := tm.Resolve(&env)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("Resolve(%q) = %q, %v; want %q, %v", tt.tmpl, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	for _, src := range []string{"{", "a}", "{}", "{json.}", "{json.a..b}", "{form.}", "{claim.}", "{body.md5}", "{a {b}"} {
		var s Set
		if _, err := s.Compile(src, nil); err == nil {
			t.Errorf("Compile(%q) accepted", src)
		}
	}
}

// Templates of one Set share the parsed body and each field they name.
func TestSetSharesFields(t *testing.T) {
	var s Set
	a, _ := s.Compile("{json.type}.{json.event}", nil)
	b, _ := s.Compile(globianceKey, []string{"json.payload.payment."})
	env := Env{Set: &s, Body: []byte(globiancePayment)}
	if v, _ := a.Resolve(&env); v != "payment.refund success" {
		t.Fatal(v)
	}
	if len(s.jsonPaths) != 5 {
		t.Fatalf("paths not shared: %d", len(s.jsonPaths))
	}
	if v, ok := b.Resolve(&env); !ok || !strings.HasPrefix(v, "payment:refund success:") {
		t.Fatal(v)
	}
}

func FuzzResolve(f *testing.F) {
	f.Add(globianceKey, globiancePayment)
	f.Add("{json.a.b}", `{"a":{"b":"c"}}`)
	f.Add("{form.x}{body.sha256}", "x=1")
	f.Add(`\{lit\}{claim.c}`, "")
	f.Fuzz(func(t *testing.T, tmpl, body string) {
		var s Set
		tm, err := s.Compile(tmpl, []string{"json.payload."})
		if err != nil {
			return
		}
		env := Env{Set: &s, Body: []byte(body), FormBody: true, ClaimsJSON: []byte(`{"c":"v"}`)}
		v, ok := tm.Resolve(&env)
		if !ok && v != "" {
			t.Fatalf("unresolved template returned %q", v)
		}
	})
}

// The dedupe key of a typical webhook: one field of a small body.
func BenchmarkResolveOneField(b *testing.B) {
	var s Set
	tm, _ := s.Compile("{json.id}", nil)
	body := []byte(`{"id":"evt_000000000001","type":"order.paid","amount":4200}`)
	b.ReportAllocs()
	for b.Loop() {
		env := Env{Set: &s, Body: body}
		if _, ok := tm.Resolve(&env); !ok {
			b.Fatal("unresolved")
		}
	}
}

func BenchmarkResolveGlobiance(b *testing.B) {
	var s Set
	tm, _ := s.Compile(globianceKey, []string{"json.payload.payment."})
	body := []byte(globiancePayment)
	b.ReportAllocs()
	for b.Loop() {
		env := Env{Set: &s, Body: body}
		if _, ok := tm.Resolve(&env); !ok {
			b.Fatal("unresolved")
		}
	}
}
