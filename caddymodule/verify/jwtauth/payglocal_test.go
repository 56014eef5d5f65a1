package jwtauth

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
	"github.com/golang-jwt/jwt/v5"
)

// The real PayGlocal vector lives outside the project (shared/vectors, see
// its README); it is read in place, never copied.
const (
	payglocalDir = "../../../../shared/vectors/payglocal"
	payglocalKid = "1c2a4b36-5449-4ed3-90a6-0a7999874234"
	payglocalGid = "gl_a64a176f-9bac-4170-950d-4dc625a35ca9"
)

// payglocalVector returns the real callback token and PayGlocal's
// development key, or skips.
func payglocalVector(tb testing.TB) (string, Key) {
	tb.Helper()
	dir, _ := filepath.Abs(payglocalDir)
	tok, err := os.ReadFile(filepath.Join(payglocalDir, "callback-token.jwt"))
	if err != nil {
		tb.Skipf("the PayGlocal vector is not there (%s): %v", dir, err)
	}
	pemData, err := os.ReadFile(filepath.Join(payglocalDir, payglocalKid+"_payglocal_mid.pem"))
	if err != nil {
		tb.Skipf("the PayGlocal key is not there (%s): %v", dir, err)
	}
	pub, err := ParsePublicKeyPEM(pemData)
	if err != nil {
		tb.Fatalf("PayGlocal's published key: %v", err)
	}
	return strings.TrimSpace(string(tok)), Key{ID: payglocalKid, Key: pub}
}

func TestPayGlocalRealToken(t *testing.T) {
	tok, key := payglocalVector(t)
	// The token was issued on 2021-11-15; its lifetime is 5 minutes.
	wide := time.Since(time.Date(2021, 11, 15, 0, 0, 0, 0, time.UTC)) + time.Hour
	now := time.Now()
	deliveries := []struct {
		name string
		req  func(testing.TB, string) (*http.Request, []byte)
	}{
		{"form field x-gl-token", func(tb testing.TB, tok string) (*http.Request, []byte) { return formPost(tb, "x-gl-token", tok) }},
		{"JSON field x-gl-token", func(tb testing.TB, tok string) (*http.Request, []byte) { return jsonPost(tb, "x-gl-token", tok) }},
		{"header x-gl-token", func(tb testing.TB, tok string) (*http.Request, []byte) { return headerPost(tb, "x-gl-token", tok) }},
	}
	configs := []struct {
		name   string
		cfg    Config
		want   verify.Reason
		detail string
	}{
		{"leeway wide enough for its age", Config{Sources: payglocalSources(), Keys: []Key{key}, Algs: []string{"RS256"}, Leeway: wide}, "", ""},
		{"defaults (leeway 1m)", Config{Sources: payglocalSources(), Keys: []Key{key}, Algs: []string{"RS256"}, Leeway: time.Minute}, verify.ReasonTokenExpired, "exp has passed"},
		{"another kid only", Config{Sources: payglocalSources(), Keys: []Key{{ID: "other", Key: key.Key}}, Algs: []string{"RS256"}, Leeway: wide}, verify.ReasonUnknownKey, ""},
	}
	for _, c := range configs {
		v := mustNew(t, c.cfg)
		for _, d := range deliveries {
			t.Run(c.name+"/"+d.name, func(t *testing.T) {
				r, body := d.req(t, tok)
				out, err := run(v, r, body, now)
				if got := reasonOf(t, err); got != c.want {
					t.Fatalf("got %v, want %s", err, orOK(c.want))
				}
				assertNoLeak(t, err, tok)
				if c.detail != "" && err.(*verify.Failure).Detail != c.detail {
					t.Errorf("detail %q, want %q", err.(*verify.Failure).Detail, c.detail)
				}
				if c.want != "" {
					return
				}
				if fp, _ := keyFingerprint(payglocalKid, key.Key); out.Credential != fp {
					t.Errorf("Credential %q, want %q", out.Credential, fp)
				}
				signed, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
				if string(out.ClaimsJSON) != string(signed) {
					t.Errorf("ClaimsJSON is not the payload as signed")
				}
				var got struct {
					Status string `json:"status"`
					Gid    string `json:"gid"`
				}
				if err := json.Unmarshal(out.ClaimsJSON, &got); err != nil {
					t.Fatal(err)
				}
				if got.Status != "SENT_FOR_CAPTURE" || got.Gid != payglocalGid {
					t.Errorf("claims: status %q gid %q", got.Status, got.Gid)
				}
				claims := decodeClaims(t, out.ClaimsJSON)
				if claims["x-gl-gid"] != payglocalGid || claims["exp"] != json.Number("300000") || claims["iat"] != "1636980973327" {
					t.Errorf("Claims: x-gl-gid %v exp %#v iat %#v", claims["x-gl-gid"], claims["exp"], claims["iat"])
				}
			})
		}
	}
}

// Its freshness window, to the millisecond: iat 1636980973327 plus 300000.
func TestPayGlocalRealTokenWindow(t *testing.T) {
	tok, key := payglocalVector(t)
	v := mustNew(t, Config{Sources: payglocalSources(), Keys: []Key{key}, Algs: []string{"RS256"}, Leeway: time.Minute})
	end := time.UnixMilli(1636980973327 + 300000).Add(time.Minute)
	for _, c := range []struct {
		at   time.Time
		want verify.Reason
	}{
		{time.UnixMilli(1636980973327), ""},
		{end, ""},
		{end.Add(time.Millisecond), verify.ReasonTokenExpired},
		{time.UnixMilli(1636980973327).Add(-time.Minute - time.Millisecond), verify.ReasonTokenIssuedInFuture},
	} {
		r, body := formPost(t, "x-gl-token", tok)
		_, err := run(v, r, body, c.at)
		if got := reasonOf(t, err); got != c.want {
			t.Errorf("at %s: %v, want %s", c.at.UTC().Format(time.RFC3339Nano), err, orOK(c.want))
		}
	}
}

// Why the Parser runs WithoutClaimsValidation and claims.go reads the time
// claims: golang-jwt's own validation reads PayGlocal's relative exp as 1970
// (NOTES.md). If this ever passes, claims.go may be revisited.
func TestPayGlocalDefaultGolangJWTRejects(t *testing.T) {
	tok, key := payglocalVector(t)
	_, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return key.Key, nil }, jwt.WithValidMethods([]string{"RS256"}))
	if err == nil || !strings.Contains(err.Error(), "token is expired") {
		t.Errorf("default golang-jwt parse: %v, want token is expired", err)
	}
}
