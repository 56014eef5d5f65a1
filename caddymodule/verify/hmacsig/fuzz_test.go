package hmacsig

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
)

// referenceParse is the providers' libraries' reading of a header, written
// the plain way with strings.Split: the parsers must agree with it.
func referenceParse(format Format, value, prefix string) (sigs []string, fields map[string]string, fieldRepeated bool) {
	fields = map[string]string{}
	switch format {
	case FormatValue:
		if rest, ok := strings.CutPrefix(value, prefix); ok && rest != "" {
			sigs = append(sigs, rest)
		}
	case FormatStripe, FormatPaddle:
		syn := stripeSyntax
		if format == FormatPaddle {
			syn = paddleSyntax
		}
		for _, item := range strings.Split(value, string(syn.sep)) {
			kv := strings.SplitN(strings.Trim(item, " \t"), "=", 2)
			if len(kv) != 2 {
				continue
			}
			if kv[0] == syn.sigKey {
				if kv[1] != "" {
					sigs = append(sigs, kv[1])
				}
				continue
			}
			if _, ok := fields[kv[0]]; ok {
				fieldRepeated = true
			}
			fields[kv[0]] = kv[1]
		}
	case FormatStandardWebhooks:
		for _, entry := range strings.Split(value, " ") {
			kv := strings.SplitN(entry, ",", 2)
			if len(kv) == 2 && kv[1] != "" && (kv[0] == "v1" || kv[0] == "v1a") {
				sigs = append(sigs, kv[0]+","+kv[1])
			}
		}
	}
	return sigs, fields, fieldRepeated
}

// FuzzParseHeader checks every header syntax against the reference: the
// same signatures in the same order, the same fields, a repeated field
// refused, the bounds kept, and no panic. The seeds are the official
// vectors' headers and the edge cases of the table tests; `go test` runs
// them.
func FuzzParseHeader(f *testing.F) {
	for _, seed := range []string{
		"t=1492774577,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd,v0=6ffbb59b2300aadb",
		"t=1,v1=a,v1=b, v1=c ,t=2",
		"ts=1698796800;h1=a300428748dce5c70e4da19bffd60769591ea969c99dea3105d0ec9612cf43f9",
		"ts=;h1=;;=;h1==x",
		"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==",
		"v1,  v2,x v1,a,b",
		"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
		"B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g=",
		strings.Repeat("v1=a,", 20),
		strings.Repeat("k=a;", 20),
		"",
	} {
		for format := FormatValue; format <= FormatStandardWebhooks; format++ {
			f.Add(uint8(format), seed)
		}
	}
	f.Fuzz(func(t *testing.T, format uint8, value string) {
		fm := Format(format % 4)
		v := &Verifier{format: fm, prefix: "sha256=", secrets: []*secretKey{{}}, publicKeys: []publicKey{{}}}
		if fm != FormatValue {
			v.prefix = ""
		}
		var sigs sigList
		var fields fieldList
		fail := v.parseHeader(value, &sigs, &fields)
		refSigs, refFields, refRepeated := referenceParse(fm, value, v.prefix)

		var got []string
		for i := 0; i < sigs.n; i++ {
			s := sigs.sigs[i].text
			if fm == FormatStandardWebhooks {
				version := "v1"
				if sigs.sigs[i].kind == sigEd25519 {
					version = "v1a"
				}
				s = version + "," + s
			}
			got = append(got, s)
		}
		switch {
		case refRepeated:
			if fail != errFieldRepeated && fail != errTooMany {
				t.Fatalf("%q: a repeated field gave %v", value, fail)
			}
			return
		case len(refSigs) > MaxSignatures || len(refFields) > maxFields:
			if fail != errTooMany {
				t.Fatalf("%q: %d signatures, %d fields gave %v, want too many", value, len(refSigs), len(refFields), fail)
			}
			return
		case len(refSigs) == 0:
			if fail == nil || fail.Reason != verify.ReasonMissingSignature {
				t.Fatalf("%q: no signature gave %v", value, fail)
			}
			return
		}
		if fail != nil {
			t.Fatalf("%q: %v; reference found %q", value, fail, refSigs)
		}
		if strings.Join(got, "\n") != strings.Join(refSigs, "\n") {
			t.Fatalf("%q: signatures %q, reference %q", value, got, refSigs)
		}
		if fields.n != len(refFields) {
			t.Fatalf("%q: %d fields, reference %v", value, fields.n, refFields)
		}
		for i := 0; i < fields.n; i++ {
			if refFields[fields.fields[i].key] != fields.fields[i].value {
				t.Fatalf("%q: field %q = %q, reference %q", value, fields.fields[i].key, fields.fields[i].value, refFields[fields.fields[i].key])
			}
		}
	})
}

// FuzzVerify feeds any header value and body to each scheme: no panic, and
// nothing passes that the key did not sign.
func FuzzVerify(f *testing.F) {
	f.Add("t=1760000000,v1=00", []byte(`{"id":1}`), uint8(0))
	f.Add("v1,AAAA v1a,AAAA", []byte(""), uint8(1))
	f.Add("sha256=", []byte("x"), uint8(2))
	f.Add("ts=1;h1=zz", []byte("{}"), uint8(3))
	schemes := []Scheme{
		{Format: FormatStripe, Header: "Sig", Signed: "{signature.t}.{body}", Timestamp: "{signature.t}", TolerancePast: time.Hour, ToleranceFuture: time.Hour},
		{Format: FormatStandardWebhooks, Header: "Sig", Encoding: "base64", Signed: "{header.Id}.{body}"},
		{Header: "Sig", Prefix: "sha256="},
		{Format: FormatPaddle, Header: "Sig", Signed: "{signature.ts}:{body}", Timestamp: "{signature.ts}", TolerancePast: time.Hour, ToleranceFuture: time.Hour},
		{Format: FormatAdyen, Encoding: "base64"},
	}
	verifiers := make([]*Verifier, len(schemes))
	for i, s := range schemes {
		keys := Keys{Secrets: []string{"fuzz-secret"}}
		if s.Format == FormatStandardWebhooks {
			keys.PublicKeys = []string{"whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4="}
		}
		v, err := New(s, keys)
		if err != nil {
			f.Fatal(err)
		}
		verifiers[i] = v
	}
	f.Fuzz(func(t *testing.T, value string, body []byte, which uint8) {
		i := int(which) % len(verifiers)
		r, _ := http.NewRequest(http.MethodPost, "http://x/", nil)
		r.Header.Set("Sig", value)
		r.Header.Set("Id", "msg")
		var out verify.Output
		err := verifiers[i].Verify(&verify.Input{Request: r, Body: body, Now: time.Unix(1760000000, 0)}, &out)
		if err == nil {
			// No input here carries a signature made with the key: a pass
			// would be a forgery.
			t.Fatalf("scheme %d passed %q for body %q", i, value, body)
		}
	})
}
