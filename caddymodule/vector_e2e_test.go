package caddymodule_test

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/internal/testcaddy"
	"github.com/callbackguard/callbackguard/internal/vectors"
)

// The real PayGlocal callback token, delivered by form post through a real
// Caddy: accepted with a leeway that covers its age, rejected as expired
// with the defaults.
func TestPayGlocalRealVectorThroughCaddy(t *testing.T) {
	dir := filepath.Join(vectors.Dir(t), "payglocal")
	tok, err := os.ReadFile(filepath.Join(dir, "callback-token.jwt"))
	if err != nil {
		t.Fatal(err)
	}
	const kid = "1c2a4b36-5449-4ed3-90a6-0a7999874234"
	pem := filepath.Join(dir, kid+"_payglocal_mid.pem")
	// The token was issued on 2021-11-15; cover its age with a margin.
	leeway := time.Since(time.Date(2021, 11, 15, 0, 0, 0, 0, time.UTC)) + 24*time.Hour
	up := testcaddy.NewUpstream(t)
	c := testcaddy.Start(t, fmt.Sprintf(`{
	admin @ADMIN@
}
:@HTTP@ {
	handle /wide {
		callback_guard payglocal {
			jwt {
				key %[1]s %[2]s
				leeway %[3]dh
			}
		}
		reverse_proxy %[4]s
	}
	handle /default {
		callback_guard payglocal {
			jwt {
				key %[1]s %[2]s
			}
		}
		reverse_proxy %[4]s
	}
}
`, kid, pem, int(leeway.Hours())+1, up.Addr()))
	body := "x-gl-token=" + url.QueryEscape(strings.TrimSpace(string(tok)))

	a := do(t, newRequest(t, "POST", c.URL+"/wide", "application/x-www-form-urlencoded", body))
	if a.status != 200 {
		t.Fatalf("real token with a wide leeway: %d %q", a.status, a.body)
	}
	got := up.Received()
	if len(got) != 1 {
		t.Fatalf("backend saw %d", len(got))
	}
	h := got[0].Header
	for name, want := range map[string]string{
		"X-Callback-Provider": "payglocal",
		"X-Callback-Verified": "jwt",
		"X-Callback-Id":       "gl_a64a176f-9bac-4170-950d-4dc625a35ca9:SENT_FOR_CAPTURE",
		"X-Callback-Event":    "SENT_FOR_CAPTURE",
		"X-Callback-Outcome":  "success",
	} {
		if h.Get(name) != want {
			t.Errorf("%s = %q, want %q", name, h.Get(name), want)
		}
	}
	if string(got[0].Body) != body {
		t.Error("the form body did not reach the backend byte for byte")
	}

	a = do(t, newRequest(t, "POST", c.URL+"/default", "application/x-www-form-urlencoded", body))
	if a.status != 401 || errorReason(t, a) != "token_expired" {
		t.Fatalf("real token with the defaults: %d %q, want 401 token_expired", a.status, a.body)
	}
	if up.Count() != 1 {
		t.Fatal("an expired token reached the backend")
	}
}
