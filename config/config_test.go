package config

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

func TestPresetDefaults(t *testing.T) {
	auth := []QuerySecret{{Param: "token", Secret: "s"}}
	tests := []struct {
		preset   string
		deadline time.Duration
		ttl      time.Duration
		dedupe   []string
		event    string
	}{
		{"glopal", 4500 * time.Millisecond, 10 * time.Minute, []string{"{body.sha256}"}, ""},
		{"globiance", 10 * time.Second, 24 * time.Hour, []string{"{json.type}:{json.event}:{json.checkoutId}:{json.payload.payment.paymentId}:{json.payload.payment.timestamp}"}, "{json.type}.{json.event}"},
		{"avarda", 10 * time.Second, 24 * time.Hour, []string{"{json.purchaseId}"}, "purchase.completed"},
		{"payglocal", 10 * time.Second, 24 * time.Hour, []string{"{claim.gid}:{claim.status}", "{claim.x-gl-gid}:{claim.status}", "{body.sha256}"}, "{claim.status}"},
		{"generic", 10 * time.Second, 24 * time.Hour, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.preset, func(t *testing.T) {
			g := Guard{Preset: tt.preset, QuerySecret: auth}
			s, err := g.Resolve()
			if err != nil {
				t.Fatal(err)
			}
			if s.Deadline != tt.deadline || s.DedupeTTL != tt.ttl {
				t.Errorf("deadline %s ttl %s", s.Deadline, s.DedupeTTL)
			}
			if strings.Join(s.Dedupe, " ") != strings.Join(tt.dedupe, " ") {
				t.Errorf("dedupe %q", s.Dedupe)
			}
			if s.Preset.Event != tt.event {
				t.Errorf("event %q", s.Preset.Event)
			}
			if s.MaxBody != 1<<20 || s.UpstreamTimeout != 30*time.Second || s.OnTimeout.Status != 504 ||
				(s.ForwardClaims == "header") != (tt.preset == "payglocal") || s.Store.Kind != "memory" || s.StoreFailure != "open" || s.Leeway != time.Minute {
				t.Errorf("defaults: %+v", s)
			}
		})
	}
}

func TestOutcomes(t *testing.T) {
	g, _ := LookupPreset("globiance")
	for ev, want := range map[string]string{
		"checkout.completed": "success", "payment.confirmed": "success", "payment.settled": "success",
		"checkout.cancelled": "failure", "checkout.expired": "failure", "payment.update": "", "payment.refund success": "",
	} {
		got, ok := g.Outcomes[ev]
		if !ok {
			got = g.OutcomeDefault
		}
		if got != want {
			t.Errorf("globiance %s: %q, want %q", ev, got, want)
		}
	}
	p, _ := LookupPreset("payglocal")
	for st, want := range map[string]string{"SENT_FOR_CAPTURE": "success", "AUTHORIZED": "pending", "ISSUER_DECLINE": "failure", "ABANDONED": "failure"} {
		got, ok := p.Outcomes[st]
		if !ok {
			got = p.OutcomeDefault
		}
		if got != want {
			t.Errorf("payglocal %s: %q, want %q", st, got, want)
		}
	}
}

func TestOverridesAndPayGlocalJWT(t *testing.T) {
	lee := caddy.Duration(10 * time.Minute)
	g := Guard{
		Preset:          "payglocal",
		JWT:             &JWT{Keys: []JWTKey{{KeyID: "k", File: "/k.pem"}}, Leeway: &lee},
		Dedupe:          []string{"off"},
		Deadline:        caddy.Duration(2 * time.Second),
		UpstreamTimeout: caddy.Duration(5 * time.Second),
		OnTimeout:       &OnTimeout{Status: 202, Body: "queued"},
		MaxBody:         4096,
		ForwardClaims:   "header",
		Store:           &Store{Kind: "redis", URL: "redis://localhost:6379/0"},
		StoreFailure:    "reject",
	}
	s, err := g.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if s.Dedupe != nil || s.Deadline != 2*time.Second || s.OnTimeout.Body != "queued" || s.MaxBody != 4096 ||
		s.Leeway != 10*time.Minute || s.Store.Kind != "redis" || s.StoreFailure != "reject" {
		t.Fatalf("%+v", s)
	}
	if len(s.JWT.From) != 3 || s.JWT.From[0] != (TokenSource{"form", "x-gl-token"}) || strings.Join(s.JWT.Algs, ",") != "RS256" {
		t.Fatalf("payglocal jwt defaults: %+v", s.JWT)
	}
	g.JWT.From = []TokenSource{{"header", "X-Token"}}
	s, _ = g.Resolve()
	if len(s.JWT.From) != 1 {
		t.Fatal("explicit from must replace the preset's sources")
	}
}

// Errors name the field and the problem, and locate the field (and the
// entry of a list) so that the Caddyfile adapter can point at its line.
func TestResolveErrors(t *testing.T) {
	ok := []QuerySecret{{Param: "token", Secret: "s"}}
	two := []QuerySecret{{Param: "token", Secret: "s"}, {Param: "key"}}
	tests := []struct {
		name  string
		g     Guard
		want  string
		field string // "": the error is about no one field
		index int
	}{
		{"unknown preset", Guard{Preset: "paypal", QuerySecret: ok}, `preset: "paypal" is unknown (want one of glopal, globiance, avarda, payglocal, stripe, github, shopify, standard_webhooks, svix, paddle, razorpay, square, adyen, generic)`, "preset", -1},
		{"no preset", Guard{QuerySecret: ok}, "missing preset (want one of glopal, ", "", 0},
		{"no authentication", Guard{Preset: "glopal"}, "no authentication configured: add basic_auth, query_secret", "", 0},
		{"payglocal without keys", Guard{Preset: "payglocal", JWT: &JWT{}}, "jwt: no key and no secret", "jwt", -1},
		{"empty secret", Guard{Preset: "globiance", QuerySecret: []QuerySecret{{Param: "token"}}}, "query_secret token: empty secret", "query_secret", 0},
		{"second entry", Guard{Preset: "globiance", QuerySecret: two}, "query_secret key: empty secret", "query_secret", 1},
		{"empty password", Guard{Preset: "glopal", BasicAuth: []BasicAuth{{Username: "u"}}}, "basic_auth u: empty password", "basic_auth", 0},
		{"colon in user", Guard{Preset: "glopal", BasicAuth: []BasicAuth{{Username: "a:b", Password: "p"}}}, `basic_auth: user "a:b" contains ':'`, "basic_auth", 0},
		{"empty header value", Guard{Preset: "avarda", HeaderSecret: []HeaderSecret{{Header: "Authorization"}}}, "header_secret Authorization: empty value", "header_secret", 0},
		{"bad header name", Guard{Preset: "avarda", HeaderSecret: []HeaderSecret{{Header: "A B", Value: "v"}}}, `header_secret: invalid header name "A B"`, "header_secret", 0},
		{"empty signed_url secret", Guard{Preset: "glopal", SignedURL: []SignedURL{{Param: "sig"}}}, "signed_url sig: empty secret", "signed_url", 0},
		{"empty jwt secret", Guard{Preset: "generic", JWT: &JWT{Secrets: []string{""}}}, "jwt: empty secret", "jwt", -1},
		{"bad source", Guard{Preset: "generic", JWT: &JWT{Secrets: []string{"s"}, From: []TokenSource{{"cookie", "x"}}}}, `jwt: from: unknown source "cookie"`, "jwt", -1},
		{"off with others", Guard{Preset: "generic", QuerySecret: ok, Dedupe: []string{"off", "{json.id}"}}, `dedupe: "off" takes no other template`, "dedupe", -1},
		{"negative ttl", Guard{Preset: "generic", QuerySecret: ok, DedupeTTL: -1}, "dedupe_ttl: must be positive", "dedupe_ttl", -1},
		{"deadline past upstream_timeout", Guard{Preset: "generic", QuerySecret: ok, Deadline: caddy.Duration(time.Minute)}, "deadline: 1m0s is longer than upstream_timeout 30s", "deadline", -1},
		{"upstream_timeout before the preset's deadline", Guard{Preset: "avarda", QuerySecret: ok, UpstreamTimeout: caddy.Duration(5 * time.Second)}, "upstream_timeout: 5s is shorter than the avarda preset's deadline 10s", "upstream_timeout", -1},
		{"on_timeout status", Guard{Preset: "generic", QuerySecret: ok, OnTimeout: &OnTimeout{Status: 99}}, "on_timeout: status 99", "on_timeout", -1},
		{"forward_claims without jwt", Guard{Preset: "generic", QuerySecret: ok, ForwardClaims: "header"}, "forward_claims: header needs a jwt block", "forward_claims", -1},
		{"forward_claims mode", Guard{Preset: "generic", QuerySecret: ok, ForwardClaims: "query"}, `forward_claims: unknown mode "query"`, "forward_claims", -1},
		{"store kind", Guard{Preset: "generic", QuerySecret: ok, Store: &Store{Kind: "etcd"}}, `store: unknown kind "etcd"`, "store", -1},
		{"redis without url", Guard{Preset: "generic", QuerySecret: ok, Store: &Store{Kind: "redis"}}, "store: redis needs a URL", "store", -1},
		{"store_failure", Guard{Preset: "generic", QuerySecret: ok, StoreFailure: "closed"}, `store_failure: unknown mode "closed"`, "store_failure", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.g.Resolve()
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error %q, want it to start with %q", err, tt.want)
			}
			var fe *FieldError
			if errors.As(err, &fe) != (tt.field != "") || fe != nil && (fe.Field != tt.field || fe.Index != tt.index) {
				t.Fatalf("located at %+v, want field %q index %d", fe, tt.field, tt.index)
			}
		})
	}
}

// Durations are Caddy's: text with Caddy's units (d for days, also inside
// a compound) or integer nanoseconds, written back as nanoseconds.
func TestDurationJSON(t *testing.T) {
	var g Guard
	err := json.Unmarshal([]byte(`{"preset":"glopal","deadline":"4500ms","dedupe_ttl":600000000000,"upstream_timeout":"1d","jwt":{"leeway":"1d12h","max_age":"1.5d"}}`), &g)
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(g.Deadline) != 4500*time.Millisecond || time.Duration(g.DedupeTTL) != 10*time.Minute || time.Duration(g.UpstreamTimeout) != 24*time.Hour ||
		time.Duration(*g.JWT.Leeway) != 36*time.Hour || time.Duration(g.JWT.MaxAge) != 36*time.Hour {
		t.Fatalf("%+v %+v", g, g.JWT)
	}
	b, _ := json.Marshal(g)
	if !strings.Contains(string(b), `"deadline":4500000000`) {
		t.Fatal(string(b))
	}
	if err := json.Unmarshal([]byte(`{"deadline":"soon"}`), &g); err == nil {
		t.Fatal(`"soon" accepted as a duration`)
	}
}

// Every preset says what its test delivery is: `caddy callback sign` has a
// help line and a default event for each, and a body (unless the delivery
// is only a token) that is JSON for the default event and carries the id,
// so that another --id makes another delivery.
func TestEveryPresetHasASample(t *testing.T) {
	in := SampleInput{ID: "ord-1", Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	for _, name := range PresetNames {
		t.Run(name, func(t *testing.T) {
			p, ok := LookupPreset(name)
			if !ok {
				t.Fatal("no such preset")
			}
			s := p.Sample
			if s.Help == "" || s.Event == "" {
				t.Fatalf("help %q, event %q", s.Help, s.Event)
			}
			if (s.Body == nil) == (s.JWT == nil) {
				t.Fatalf("a sample has a body or is a token only (body %v, jwt %v)", s.Body != nil, s.JWT != nil)
			}
			in.Event = s.Event
			if s.Body != nil {
				b, err := s.Body(in)
				if err != nil || (s.ContentType == "" && !json.Valid(b)) || !strings.Contains(string(b), "ord-1") {
					t.Fatalf("body %s, %v", b, err)
				}
			}
			if s.JWT != nil && (s.JWT.In.Name == "" || s.JWT.Claims == nil || len(s.JWT.Claims(in)) == 0) {
				t.Fatalf("token %+v", s.JWT)
			}
		})
	}
}
