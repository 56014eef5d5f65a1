package caddymodule

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestIsCallbackHeader(t *testing.T) {
	for name, want := range map[string]bool{
		"X-Callback-Verified": true, "x-callback-id": true, "X_Callback_Verified": true,
		"x.callback.provider": true, "X-CALLBACK_Outcome": true, "X-Callback-": true,
		"X-Callback": false, "X-Callbacks-Id": false, "X Callback Id": false, "Authorization": false,
		"X-Callbackx": false, "": false,
	} {
		if got := isCallbackHeader(name); got != want {
			t.Errorf("isCallbackHeader(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestCleanConnection(t *testing.T) {
	checked := []string{"authorization", "x-gl-token"}
	tests := []struct {
		in   []string
		want []string // nil: the header is gone
	}{
		{[]string{"close, X-Callback-Verified, X-Callback-Claims"}, []string{"close"}},
		{[]string{"X_Callback_Id", "keep-alive,x-gl-token"}, []string{"keep-alive"}},
		{[]string{"Authorization, x.callback.event"}, nil},
		{[]string{"close, X-Other"}, []string{"close, X-Other"}},
		{[]string{" , Upgrade ,"}, []string{" , Upgrade ,"}},
	}
	for _, tt := range tests {
		h := http.Header{"Connection": append([]string(nil), tt.in...)}
		cleanConnection(h, checked)
		if got := h["Connection"]; strings.Join(got, "|") != strings.Join(tt.want, "|") || (tt.want == nil) != (got == nil) {
			t.Errorf("Connection %q cleaned to %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSafeKeyAndValue(t *testing.T) {
	long := strings.Repeat("a", maxKeyLen+1)
	longSum := sha256.Sum256([]byte(long))
	lookalike := "sha256:" + hex.EncodeToString(longSum[:])
	lookalikeSum := sha256.Sum256([]byte(lookalike))
	for in, want := range map[string]string{
		"order-1":                      "order-1",
		"payment.refund success":       "payment.refund success",
		"x\r\nInjected: 1":             "x%0D%0AInjected: 1",
		"100%":                         "100%25",
		"caf\u00e9\x00\x7f":            "caf%C3%A9%00%7F",
		strings.Repeat("b", maxKeyLen): strings.Repeat("b", maxKeyLen),
		long:                           "sha256:" + hex.EncodeToString(longSum[:]),
		lookalike:                      "sha256:" + hex.EncodeToString(lookalikeSum[:]),
	} {
		if got := safeKey(in); got != want {
			t.Errorf("safeKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHasFragment(t *testing.T) {
	for target, want := range map[string]bool{
		"/cb?a=1":       false,
		"/cb?a=1#x":     true,
		"/cb#x":         true,
		"/cb?a=%23":     false,
		"/c%23b?x=1":    false,
		"/cb?sig=abc#&": true,
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RequestURI = target
		if got := hasFragment(r); got != want {
			t.Errorf("hasFragment(%q) = %v, want %v", target, got, want)
		}
	}
}
