package caddymodule_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/callbackguard/callbackguard/caddymodule"
	"github.com/callbackguard/callbackguard/internal/testcaddy"
)

// adaptGuards adapts a Caddyfile and returns every callback_guard handler
// of the JSON config, in order.
func adaptGuards(t *testing.T, caddyfile string) ([]map[string]any, error) {
	t.Helper()
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		return nil, err
	}
	var cfg any
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	var guards []map[string]any
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if x["handler"] == "callback_guard" {
				guards = append(guards, x)
			}
			for _, k := range sortedKeys(x) {
				walk(x[k])
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(cfg)
	return guards, nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	// handle/routes order is in arrays; map order does not matter here.
	return keys
}

func TestAdaptFullSyntax(t *testing.T) {
	guards, err := adaptGuards(t, `:8080 {
	callback_guard payglocal {
		basic_auth glopal {env.GLOPAL_PASSWORD}
		basic_auth glopal2 pw2
		query_secret token {file./run/secrets/q}
		header_secret X-Secret "Bearer abc"
		signed_url sig s1
		jwt {
			from form x-gl-token
			from header x-gl-token
			key kid-1 /etc/keys/kid-1_payglocal_mid.pem
			secret hs
			algs RS256 HS256
			leeway 10m
			max_age 1h
		}
		dedupe {claim.gid}:{claim.status} {header.X-Delivery} {query.id}
		dedupe_ttl 1d12h
		deadline 4500ms
		on_timeout 202 "accepted, processing"
		upstream_timeout 1m
		max_body 64KiB
		max_answer 2MiB
		forward_claims header
		store redis redis://:pw@localhost:6379/2
		store_failure reject
	}
	reverse_proxy localhost:9000
}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(guards) != 1 {
		t.Fatalf("%d guards", len(guards))
	}
	want := map[string]any{
		"handler": "callback_guard",
		"preset":  "payglocal",
		"basic_auth": []any{
			map[string]any{"username": "glopal", "password": "{env.GLOPAL_PASSWORD}"},
			map[string]any{"username": "glopal2", "password": "pw2"},
		},
		"query_secret":  []any{map[string]any{"param": "token", "secret": "{file./run/secrets/q}"}},
		"header_secret": []any{map[string]any{"header": "X-Secret", "value": "Bearer abc"}},
		"signed_url":    []any{map[string]any{"param": "sig", "secret": "s1"}},
		"jwt": map[string]any{
			"from":    []any{map[string]any{"source": "form", "name": "x-gl-token"}, map[string]any{"source": "header", "name": "x-gl-token"}},
			"keys":    []any{map[string]any{"kid": "kid-1", "file": "/etc/keys/kid-1_payglocal_mid.pem"}},
			"secrets": []any{"hs"},
			"algs":    []any{"RS256", "HS256"},
			"leeway":  float64(10 * time.Minute),
			"max_age": float64(time.Hour),
		},
		// The adapter expands {header.*} and {query.*} shorthands.
		"dedupe":           []any{"{claim.gid}:{claim.status}", "{http.request.header.X-Delivery}", "{http.request.uri.query.id}"},
		"dedupe_ttl":       float64(36 * time.Hour),
		"deadline":         float64(4500 * time.Millisecond),
		"on_timeout":       map[string]any{"status": float64(202), "body": "accepted, processing"},
		"upstream_timeout": float64(time.Minute),
		"max_body":         float64(65536),
		"max_answer":       float64(2 << 20),
		"forward_claims":   "header",
		"store":            map[string]any{"kind": "redis", "url": "redis://:pw@localhost:6379/2"},
		"store_failure":    "reject",
	}
	if !reflect.DeepEqual(guards[0], want) {
		got, _ := json.MarshalIndent(guards[0], "", "  ")
		t.Fatalf("adapted to\n%s", got)
	}
}

// The directive orders itself before reverse_proxy, with no order line,
// and a preset alone is all a minimal guard writes.
func TestAdaptOrderAndMinimal(t *testing.T) {
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(`:8080 {
	reverse_proxy localhost:9000
	callback_guard avarda {
		header_secret Authorization "Bearer x"
	}
}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	g, rp := strings.Index(s, `"handler":"callback_guard"`), strings.Index(s, `"handler":"reverse_proxy"`)
	if g < 0 || rp < 0 || g > rp {
		t.Fatalf("callback_guard must come before reverse_proxy:\n%s", s)
	}
	if !strings.Contains(s, `{"handler":"callback_guard","header_secret":[{"header":"Authorization","value":"Bearer x"}],"preset":"avarda"}`) {
		t.Fatalf("minimal guard adapted to:\n%s", s)
	}
}

// Configuration errors the Caddyfile adapter can see fail `caddy adapt`
// with a message that names the directive (Caddy adds it), the problem,
// and the line it is on.
func TestAdaptErrors(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"unknown preset", "callback_guard paypal {\n query_secret t s\n}", `unknown preset "paypal" (want one of glopal, globiance, avarda, payglocal, stripe, github, shopify, standard_webhooks, svix, paddle, razorpay, square, adyen, generic), at Caddyfile:2`},
		{"missing preset", `callback_guard`, "missing preset (want one of glopal, globiance, avarda, payglocal, stripe, github, shopify, standard_webhooks, svix, paddle, razorpay, square, adyen, generic), at Caddyfile:2"},
		{"argument after the preset", "callback_guard glopal extra {\n query_secret t s\n}", `unexpected argument "extra" after the preset, at Caddyfile:2`},
		{"unknown subdirective", "callback_guard glopal {\n query_secret t s\n retry 3\n}", `unknown subdirective "retry", at Caddyfile:4`},
		{"missing argument", "callback_guard glopal {\n basic_auth user\n}", "basic_auth: want <user> <password>, at Caddyfile:3"},
		{"no authentication", "callback_guard glopal {\n dedupe off\n}", "no authentication configured: add basic_auth, query_secret, header_secret, signed_url, hmac or jwt, at Caddyfile:2"},
		{"empty secret", "callback_guard globiance {\n query_secret token s\n query_secret key \"\"\n}", "query_secret key: empty secret (after placeholder expansion), at Caddyfile:4"},
		{"bad duration", "callback_guard glopal {\n query_secret t s\n deadline soon\n}", `deadline: invalid duration "soon" (want a positive duration such as 4500ms, 10m or 1d), at Caddyfile:4`},
		{"bad jwt duration", "callback_guard generic {\n jwt {\n  secret s\n  leeway -1s\n }\n}", `jwt leeway: invalid duration "-1s"`},
		{"deadline past upstream_timeout", "callback_guard glopal {\n query_secret t s\n deadline 1m\n upstream_timeout 10s\n}", "deadline: 1m0s is longer than upstream_timeout 10s, at Caddyfile:4"},
		{"upstream_timeout before the preset's deadline", "callback_guard avarda {\n query_secret t s\n upstream_timeout 5s\n}", "upstream_timeout: 5s is shorter than the avarda preset's deadline 10s, at Caddyfile:4"},
		{"bad size", "callback_guard glopal {\n query_secret t s\n max_body lots\n}", `max_body: invalid size "lots"`},
		{"bad answer size", "callback_guard glopal {\n query_secret t s\n max_answer 0\n}", `max_answer: invalid size "0"`},
		{"bad template", "callback_guard glopal {\n query_secret t s\n dedupe {json.a\n}", "dedupe: template"},
		{"unknown jwt subdirective", "callback_guard payglocal {\n jwt {\n  keys a b\n }\n}", `unknown jwt subdirective "keys", at Caddyfile:4`},
		{"jwt twice", "callback_guard generic {\n jwt {\n  secret a\n }\n jwt {\n  secret b\n }\n}", "jwt: given twice: put every key and secret in one jwt block, at Caddyfile:6"},
		{"jwt source", "callback_guard generic {\n query_secret t s\n jwt {\n  secret a\n  from cookie x\n }\n}", `jwt: from: unknown source "cookie" (want form, json, header or query), at Caddyfile:4`},
		{"forward_claims without jwt", "callback_guard glopal {\n query_secret t s\n forward_claims body\n}", "forward_claims: body needs a jwt block: there are no claims to forward, at Caddyfile:4"},
		{"store", "callback_guard glopal {\n query_secret t s\n store redis\n}", "store: redis needs a URL, e.g. redis://localhost:6379/0, at Caddyfile:4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := adaptGuards(t, ":8080 {\n"+tt.body+"\n}")
			if err == nil {
				t.Fatal("adapted without error")
			}
			const directive = "parsing caddyfile tokens for 'callback_guard': "
			if !strings.HasPrefix(err.Error(), directive) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want %q", err, directive+tt.want)
			}
		})
	}
}

// Errors that need the machine the config runs on (key files, placeholders)
// fail `caddy validate` and `caddy run` at load time, never at request time.
func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	rsaKey := newRSAKey(t, dir, "rsa.pem")
	ecKey := newECKey(t, dir, "ec.pem")
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	garbage := write("garbage.pem", "not a key\n")
	private := write("private.pem", "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n")
	empty := write("empty-secret", "\n")
	tests := []struct{ name, body, want string }{
		{"unreadable key file", "callback_guard payglocal {\n jwt {\n  key k1 " + filepath.Join(dir, "missing.pem") + "\n }\n}", "provision http.handlers.callback_guard: jwt: key k1: open "},
		{"not a key", "callback_guard payglocal {\n jwt {\n  key k1 " + garbage + "\n }\n}", "provision http.handlers.callback_guard: jwt: key k1: "},
		{"private key instead of public", "callback_guard payglocal {\n jwt {\n  key k1 " + private + "\n }\n}", "provision http.handlers.callback_guard: jwt: key k1: "},
		{"key does not fit algs", "callback_guard payglocal {\n jwt {\n  key k1 " + ecKey.pubFile + "\n }\n}", "provision http.handlers.callback_guard: jwt: "},
		{"HMAC alg with only public keys", "callback_guard generic {\n jwt {\n  key k1 " + rsaKey.pubFile + "\n  algs HS256\n }\n}", "provision http.handlers.callback_guard: jwt: "},
		{"alg none", "callback_guard generic {\n jwt {\n  secret s\n  algs none\n }\n}", "provision http.handlers.callback_guard: jwt: "},
		{"secret empty after {env.*}", "callback_guard glopal {\n basic_auth glopal {env.CALLBACKGUARD_UNSET_FOR_TEST}\n}", "provision http.handlers.callback_guard: basic_auth glopal: empty password (after placeholder expansion)"},
		{"secret empty after {file.*}", "callback_guard globiance {\n query_secret token {file." + empty + "}\n}", "provision http.handlers.callback_guard: query_secret token: empty secret (after placeholder expansion)"},
		{"relative {file.*} left unexpanded", "callback_guard globiance {\n query_secret token {file.secret.txt}\n}", "provision http.handlers.callback_guard: query_secret token: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := write("Caddyfile", "{\n admin off\n}\n:0 {\n"+tt.body+"\nreverse_proxy 127.0.0.1:9\n}\n")
			out, err := testcaddy.Run(t, dir, "validate", "--config", cfg, "--adapter", "caddyfile")
			if err == nil {
				t.Fatalf("caddy validate accepted it:\n%s", out)
			}
			if !strings.Contains(out, tt.want) {
				t.Fatalf("caddy validate said:\n%s\nwant it to contain %q", out, tt.want)
			}
		})
	}
}

// The built binary lists the module.
func TestListModules(t *testing.T) {
	out, err := testcaddy.Run(t, t.TempDir(), "list-modules")
	if err != nil {
		t.Fatalf("list-modules: %v\n%s", err, out)
	}
	if !strings.Contains(out, "http.handlers.callback_guard") {
		t.Fatalf("list-modules does not list http.handlers.callback_guard:\n%s", out)
	}
}

// The callback_guard global option names the store once for every guard;
// a guard's own store line wins.
func TestAdaptGlobalStoreDefaults(t *testing.T) {
	guards, err := adaptGuards(t, `{
	callback_guard {
		store redis redis://10.0.0.5:6379/0
		store_failure reject
	}
}
:8080 {
	handle /a {
		callback_guard avarda {
			header_secret Authorization "Bearer x"
		}
	}
	handle /b {
		callback_guard glopal {
			basic_auth u p
			store memory 512MiB
			store_failure open
		}
	}
}`)
	if err != nil {
		t.Fatal(err)
	}
	byPreset := map[string]map[string]any{}
	for _, g := range guards {
		byPreset[g["preset"].(string)] = g
	}
	if st := byPreset["avarda"]["store"]; !reflect.DeepEqual(st, map[string]any{"kind": "redis", "url": "redis://10.0.0.5:6379/0"}) || byPreset["avarda"]["store_failure"] != "reject" {
		t.Errorf("avarda did not get the global defaults: %v", byPreset["avarda"])
	}
	if st := byPreset["glopal"]["store"]; !reflect.DeepEqual(st, map[string]any{"kind": "memory", "max_bytes": float64(512 << 20)}) || byPreset["glopal"]["store_failure"] != "open" {
		t.Errorf("glopal's own store lines must win: %v", byPreset["glopal"])
	}
	if _, err := adaptGuards(t, "{\n callback_guard {\n  store etcd x\n }\n}\n:8080 {\n callback_guard avarda {\n  header_secret A b\n }\n}"); err == nil || !strings.Contains(err.Error(), `unknown kind "etcd"`) {
		t.Errorf("a bad global store: %v", err)
	}
}
