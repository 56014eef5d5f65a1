package config

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
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
				s.ForwardClaims != "off" || s.Store.Kind != "memory" || s.StoreFailure != "open" || s.Leeway != time.Minute {
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
	lee := Duration(10 * time.Minute)
	g := Guard{
		Preset:          "payglocal",
		JWT:             &JWT{Keys: []JWTKey{{KeyID: "k", File: "/k.pem"}}, Leeway: &lee},
		Dedupe:          []string{"off"},
		Deadline:        Duration(2 * time.Second),
		UpstreamTimeout: Duration(5 * time.Second),
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

func TestResolveErrors(t *testing.T) {
	ok := []QuerySecret{{Param: "token", Secret: "s"}}
	tests := []struct {
		name string
		g    Guard
		want string
	}{
		{"unknown preset", Guard{Preset: "paypal", QuerySecret: ok}, `unknown preset "paypal"`},
		{"no preset", Guard{QuerySecret: ok}, "missing preset"},
		{"no authentication", Guard{Preset: "glopal"}, "no authentication configured"},
		{"payglocal without keys", Guard{Preset: "payglocal", JWT: &JWT{}}, "jwt: no key and no secret"},
		{"empty secret", Guard{Preset: "globiance", QuerySecret: []QuerySecret{{Param: "token"}}}, "query_secret token: empty secret"},
		{"empty password", Guard{Preset: "glopal", BasicAuth: []BasicAuth{{Username: "u"}}}, "basic_auth u: empty password"},
		{"colon in user", Guard{Preset: "glopal", BasicAuth: []BasicAuth{{Username: "a:b", Password: "p"}}}, "contains ':'"},
		{"empty header value", Guard{Preset: "avarda", HeaderSecret: []HeaderSecret{{Header: "Authorization"}}}, "header_secret Authorization: empty value"},
		{"bad header name", Guard{Preset: "avarda", HeaderSecret: []HeaderSecret{{Header: "A B", Value: "v"}}}, "invalid header name"},
		{"empty signed_url secret", Guard{Preset: "glopal", SignedURL: []SignedURL{{Param: "sig"}}}, "signed_url sig: empty secret"},
		{"empty jwt secret", Guard{Preset: "generic", JWT: &JWT{Secrets: []string{""}}}, "jwt: empty secret"},
		{"bad source", Guard{Preset: "generic", JWT: &JWT{Secrets: []string{"s"}, From: []TokenSource{{"cookie", "x"}}}}, `unknown source "cookie"`},
		{"off with others", Guard{Preset: "generic", QuerySecret: ok, Dedupe: []string{"off", "{json.id}"}}, `"off" takes no other template`},
		{"deadline past upstream_timeout", Guard{Preset: "generic", QuerySecret: ok, Deadline: Duration(time.Minute)}, "longer than upstream_timeout"},
		{"on_timeout status", Guard{Preset: "generic", QuerySecret: ok, OnTimeout: &OnTimeout{Status: 99}}, "on_timeout: status 99"},
		{"forward_claims without jwt", Guard{Preset: "generic", QuerySecret: ok, ForwardClaims: "header"}, "needs a jwt block"},
		{"forward_claims mode", Guard{Preset: "generic", QuerySecret: ok, ForwardClaims: "query"}, `unknown mode "query"`},
		{"store kind", Guard{Preset: "generic", QuerySecret: ok, Store: &Store{Kind: "etcd"}}, `unknown kind "etcd"`},
		{"redis without url", Guard{Preset: "generic", QuerySecret: ok, Store: &Store{Kind: "redis"}}, "store redis needs a URL"},
		{"store_failure", Guard{Preset: "generic", QuerySecret: ok, StoreFailure: "closed"}, `unknown mode "closed"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.g.Resolve()
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "callback_guard") {
				t.Fatalf("error %q, want it to name the directive and contain %q", err, tt.want)
			}
		})
	}
}

func TestDurationJSON(t *testing.T) {
	var g Guard
	if err := json.Unmarshal([]byte(`{"preset":"glopal","deadline":"4500ms","dedupe_ttl":600000000000,"upstream_timeout":"1d"}`), &g); err != nil {
		t.Fatal(err)
	}
	if time.Duration(g.Deadline) != 4500*time.Millisecond || time.Duration(g.DedupeTTL) != 10*time.Minute || time.Duration(g.UpstreamTimeout) != 24*time.Hour {
		t.Fatalf("%+v", g)
	}
	b, _ := json.Marshal(g)
	if !strings.Contains(string(b), `"deadline":"4.5s"`) {
		t.Fatal(string(b))
	}
}
