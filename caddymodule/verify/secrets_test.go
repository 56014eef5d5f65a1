package verify

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestBasicAuth(t *testing.T) {
	ba := NewBasicAuth()
	if err := ba.Add("glopal", "old-password"); err != nil {
		t.Fatal(err)
	}
	if err := ba.Add("glopal", "new-password"); err != nil {
		t.Fatal(err)
	}
	if err := ba.Add("other", "x"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		auth   func(r *http.Request)
		reason Reason
	}{
		{"old password (rotation)", func(r *http.Request) { r.SetBasicAuth("glopal", "old-password") }, ""},
		{"new password (rotation)", func(r *http.Request) { r.SetBasicAuth("glopal", "new-password") }, ""},
		{"second user", func(r *http.Request) { r.SetBasicAuth("other", "x") }, ""},
		{"wrong password", func(r *http.Request) { r.SetBasicAuth("glopal", "nope") }, ReasonInvalidCredentials},
		{"unknown user", func(r *http.Request) { r.SetBasicAuth("mallory", "old-password") }, ReasonInvalidCredentials},
		{"password of another user", func(r *http.Request) { r.SetBasicAuth("other", "new-password") }, ReasonInvalidCredentials},
		{"empty password", func(r *http.Request) { r.SetBasicAuth("glopal", "") }, ReasonInvalidCredentials},
		{"no header", func(r *http.Request) {}, ReasonMissingCredentials},
		{"bearer instead", func(r *http.Request) { r.Header.Set("Authorization", "Bearer x") }, ReasonMissingCredentials},
		{"garbage base64", func(r *http.Request) { r.Header.Set("Authorization", "Basic !!!") }, ReasonMissingCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/cb", nil)
			tt.auth(r)
			assertReason(t, ba.Verify(&Input{Request: r}, &Output{}), tt.reason)
		})
	}
}

func TestQuerySecret(t *testing.T) {
	qs := NewQuerySecret("token")
	qs.Add("s3cret value")
	qs.Add("rotated~*")
	tests := []struct {
		query  string
		reason Reason
	}{
		{"token=s3cret+value", ""},
		{"token=s3cret%20value", ""},
		{"a=1&token=rotated~*&b=2", ""},
		{"a=1&token=rotated%7E%2A", ""},
		{"tok%65n=rotated~*", ""},
		{"token=s3cret", ReasonInvalidCredentials},
		{"token=s3cret+value+", ReasonInvalidCredentials},
		{"token=", ReasonMissingCredentials},
		{"", ReasonMissingCredentials},
		{"Token=s3cret+value", ReasonMissingCredentials},
		{"token=wrong&token=s3cret+value", ReasonInvalidCredentials}, // first occurrence counts
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/cb?"+tt.query, nil)
			assertReason(t, qs.Verify(&Input{Request: r}, &Output{}), tt.reason)
		})
	}
}

func TestHeaderSecret(t *testing.T) {
	hs := NewHeaderSecret("authorization")
	hs.Add("Bearer abc")
	tests := []struct {
		name   string
		values []string
		reason Reason
	}{
		{"exact", []string{"Bearer abc"}, ""},
		{"case of scheme matters (whole value, exact)", []string{"bearer abc"}, ReasonInvalidCredentials},
		{"trailing space", []string{"Bearer abc "}, ReasonInvalidCredentials},
		{"prefix", []string{"Bearer ab"}, ReasonInvalidCredentials},
		{"absent", nil, ReasonMissingCredentials},
		{"repeated", []string{"Bearer abc", "Bearer abc"}, ReasonInvalidCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/cb", nil)
			for _, v := range tt.values {
				r.Header.Add("Authorization", v)
			}
			assertReason(t, hs.Verify(&Input{Request: r}, &Output{}), tt.reason)
		})
	}
}

func TestRemoveQueryParam(t *testing.T) {
	tests := []struct{ in, name, want string }{
		{"token=x", "token", ""},
		{"a=1&token=x&b=%7E", "token", "a=1&b=%7E"},
		{"token=x&token=y&a", "token", "a"},
		{"tok%65n=x&a=1", "token", "a=1"},
		{"tokens=x", "token", "tokens=x"},
		{"a=token", "token", "a=token"},
		{"a=1&&b=2", "token", "a=1&&b=2"},
	}
	for _, tt := range tests {
		if got := RemoveQueryParam(tt.in, tt.name); got != tt.want {
			t.Errorf("RemoveQueryParam(%q, %q) = %q, want %q", tt.in, tt.name, got, tt.want)
		}
	}
}

func assertReason(t *testing.T, err error, want Reason) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("rejected: %v", err)
		}
		return
	}
	f, ok := err.(*Failure)
	if !ok {
		t.Fatalf("got %v, want failure %s", err, want)
	}
	if f.Reason != want {
		t.Fatalf("reason %s, want %s", f.Reason, want)
	}
}

func BenchmarkBasicAuth(b *testing.B) {
	ba := NewBasicAuth()
	_ = ba.Add("glopal", "demo-glopal-password")
	r := httptest.NewRequest("POST", "/cb", nil)
	r.SetBasicAuth("glopal", "demo-glopal-password")
	in := &Input{Request: r}
	b.ReportAllocs()
	for b.Loop() {
		if err := ba.Verify(in, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkQuerySecret(b *testing.B) {
	qs := NewQuerySecret("token")
	qs.Add("demo-globiance-secret")
	r := httptest.NewRequest("POST", "/cb?token=demo-globiance-secret", nil)
	in := &Input{Request: r}
	b.ReportAllocs()
	for b.Loop() {
		if err := qs.Verify(in, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHeaderSecret(b *testing.B) {
	hs := NewHeaderSecret("Authorization")
	hs.Add("Bearer demo-avarda-token")
	r := httptest.NewRequest("POST", "/cb", nil)
	r.Header.Set("Authorization", "Bearer demo-avarda-token")
	in := &Input{Request: r}
	b.ReportAllocs()
	for b.Loop() {
		if err := hs.Verify(in, nil); err != nil {
			b.Fatal(err)
		}
	}
}
