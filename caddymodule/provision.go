package caddymodule

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/callbackguard/callbackguard/caddymodule/deadline"
	"github.com/callbackguard/callbackguard/caddymodule/template"
	"github.com/callbackguard/callbackguard/caddymodule/verify"
	"github.com/callbackguard/callbackguard/caddymodule/verify/jwtauth"
	"github.com/callbackguard/callbackguard/caddymodule/verify/signedurl"
	"github.com/callbackguard/callbackguard/config"
)

// Provision expands the placeholders of every secret, applies the preset's
// defaults, loads the keys and builds the verifiers. Every configuration
// error surfaces here, at load time, never at request time.
func (g *Handler) Provision(ctx caddy.Context) error {
	g.logger = ctx.Logger()
	guard, err := expandSecrets(g.Guard)
	if err != nil {
		return err
	}
	s, err := guard.Resolve()
	if err != nil {
		return err
	}
	g.settings = s
	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("%s %s: metrics: %w", config.Directive, s.Preset.Name, err)
	}
	g.metrics = newGuardCounters(s.Preset.Name)
	if err := g.buildVerifiers(&guard, s); err != nil {
		return fmt.Errorf("%s %s: %w", config.Directive, s.Preset.Name, err)
	}
	ts, err := compileTemplates(s)
	if err != nil {
		return err
	}
	g.templates, g.dedupe, g.event = ts.set, ts.dedupe, ts.event
	g.onTimeout = onTimeoutAnswer(s.OnTimeout)
	if len(g.dedupe) > 0 {
		if err := g.openStore(s); err != nil {
			return fmt.Errorf("%s %s: store: %w", config.Directive, s.Preset.Name, err)
		}
		g.storeErrors = storeErrorCounter(g.store.Kind())
	} else if err := checkStore(s); err != nil {
		return fmt.Errorf("%s %s: store: %w", config.Directive, s.Preset.Name, err)
	}
	return nil
}

// onTimeoutAnswer is the fixed answer at the deadline; a body that looks
// like JSON is sent as JSON, any other as text.
func onTimeoutAnswer(o config.OnTimeout) *deadline.Answer {
	a := &deadline.Answer{Status: o.Status, Body: []byte(o.Body)}
	if b := strings.TrimSpace(o.Body); strings.HasPrefix(b, "{") || strings.HasPrefix(b, "[") {
		a.ContentType = "application/json"
	} else if b != "" {
		a.ContentType = "text/plain; charset=utf-8"
	}
	return a
}

// Validate is a no-op: Provision has checked everything, since the checks
// need the expanded secrets and the key files.
func (g *Handler) Validate() error { return nil }

// Cleanup releases what Provision took: this config's use of the store.
func (g *Handler) Cleanup() error { return g.closeStore() }

// expandSecrets returns a copy of the guard with {env.*} and {file.*}
// expanded in every secret and key file name. A placeholder that the global
// replacer does not know (such as a request placeholder the Caddyfile
// adapter made of a relative {file.name}) is an error: it would otherwise
// be compared literally.
func expandSecrets(in config.Guard) (config.Guard, error) {
	repl := caddy.NewReplacer()
	var firstErr error
	expand := func(what, s string) string {
		if firstErr != nil || !strings.Contains(s, "{") {
			return s
		}
		out, err := repl.ReplaceOrErr(s, false, true)
		if err != nil {
			firstErr = fmt.Errorf("%s %s: %s: cannot expand placeholder: %w", config.Directive, in.Preset, what, err)
		}
		return out
	}
	g := in
	g.BasicAuth = append([]config.BasicAuth(nil), in.BasicAuth...)
	for i := range g.BasicAuth {
		g.BasicAuth[i].Password = expand("basic_auth "+g.BasicAuth[i].Username, g.BasicAuth[i].Password)
	}
	g.QuerySecret = append([]config.QuerySecret(nil), in.QuerySecret...)
	for i := range g.QuerySecret {
		g.QuerySecret[i].Secret = expand("query_secret "+g.QuerySecret[i].Param, g.QuerySecret[i].Secret)
	}
	g.HeaderSecret = append([]config.HeaderSecret(nil), in.HeaderSecret...)
	for i := range g.HeaderSecret {
		g.HeaderSecret[i].Value = expand("header_secret "+g.HeaderSecret[i].Header, g.HeaderSecret[i].Value)
	}
	g.SignedURL = append([]config.SignedURL(nil), in.SignedURL...)
	for i := range g.SignedURL {
		g.SignedURL[i].Secret = expand("signed_url "+g.SignedURL[i].Param, g.SignedURL[i].Secret)
	}
	if in.JWT != nil {
		j := *in.JWT
		j.Secrets = append([]string(nil), in.JWT.Secrets...)
		for i := range j.Secrets {
			j.Secrets[i] = expand("jwt secret", j.Secrets[i])
		}
		j.Keys = append([]config.JWTKey(nil), in.JWT.Keys...)
		for i := range j.Keys {
			j.Keys[i].File = expand("jwt key "+j.Keys[i].KeyID, j.Keys[i].File)
		}
		g.JWT = &j
	}
	if in.Store != nil {
		st := *in.Store
		st.URL = expand("store", st.URL)
		g.Store = &st
	}
	return g, firstErr
}

// buildVerifiers turns the authentication lines into verifier groups, one
// group per kind, cheapest kinds first so that a request failing a cheap
// check never costs a signature verification.
func (g *Handler) buildVerifiers(guard *config.Guard, s *config.Settings) error {
	var groups []verifierGroup
	var kinds []string
	add := func(kind string, alts ...verify.Verifier) {
		groups = append(groups, verifierGroup{kind: kind, alts: alts})
		kinds = append(kinds, kind)
	}
	if len(guard.BasicAuth) > 0 {
		ba := verify.NewBasicAuth()
		for _, b := range guard.BasicAuth {
			if err := ba.Add(b.Username, b.Password); err != nil {
				return err
			}
		}
		add("basic_auth", ba)
		g.stripAuthorization = true
	}
	if len(guard.HeaderSecret) > 0 {
		byHeader := map[string]*verify.HeaderSecret{}
		var alts []verify.Verifier
		for _, h := range guard.HeaderSecret {
			name := http.CanonicalHeaderKey(h.Header)
			hs, ok := byHeader[name]
			if !ok {
				hs = verify.NewHeaderSecret(name)
				byHeader[name] = hs
				alts = append(alts, hs)
				g.stripHeaders = append(g.stripHeaders, name)
			}
			hs.Add(h.Value)
		}
		add("header_secret", alts...)
	}
	if len(guard.QuerySecret) > 0 {
		byParam := map[string]*verify.QuerySecret{}
		var alts []verify.Verifier
		for _, q := range guard.QuerySecret {
			qs, ok := byParam[q.Param]
			if !ok {
				qs = verify.NewQuerySecret(q.Param)
				byParam[q.Param] = qs
				alts = append(alts, qs)
				g.stripParams = append(g.stripParams, q.Param)
			}
			qs.Add(q.Secret)
		}
		add("query_secret", alts...)
	}
	if len(guard.SignedURL) > 0 {
		var alts []verify.Verifier
		for _, su := range guard.SignedURL {
			v, err := signedurl.New(su.Param, []byte(su.Secret))
			if err != nil {
				return fmt.Errorf("signed_url: %w", err)
			}
			alts = append(alts, v)
		}
		add("signed_url", alts...)
		g.needsClientURL = true
	}
	if s.JWT != nil {
		v, err := buildJWT(s)
		if err != nil {
			return fmt.Errorf("jwt: %w", err)
		}
		add("jwt", v)
		if v.UsesAuthorizationHeader() {
			g.stripAuthorization = true
		}
	}
	g.groups = groups
	g.verified = strings.Join(kinds, ",")
	return nil
}

func buildJWT(s *config.Settings) (*jwtauth.Verifier, error) {
	j := s.JWT
	cfg := jwtauth.Config{
		Algs:   j.Algs,
		Leeway: s.Leeway,
		MaxAge: time.Duration(j.MaxAge),
	}
	for _, f := range j.From {
		cfg.Sources = append(cfg.Sources, jwtauth.Source{Kind: f.Source, Name: f.Name})
	}
	for _, k := range j.Keys {
		data, err := os.ReadFile(k.File)
		if err != nil {
			return nil, fmt.Errorf("key %s: cannot read key file: %w", k.KeyID, err)
		}
		pub, err := jwtauth.ParsePublicKeyPEM(data)
		if err != nil {
			return nil, fmt.Errorf("key %s: %s: %w", k.KeyID, k.File, err)
		}
		cfg.Keys = append(cfg.Keys, jwtauth.Key{ID: k.KeyID, Key: pub})
	}
	for _, sec := range j.Secrets {
		cfg.Secrets = append(cfg.Secrets, []byte(sec))
	}
	return jwtauth.New(cfg)
}

// compiledTemplates are a guard's templates sharing one read of the body.
type compiledTemplates struct {
	set    *template.Set
	dedupe []*template.Template
	event  *template.Template
}

func compileTemplates(s *config.Settings) (*compiledTemplates, error) {
	ts := &compiledTemplates{set: new(template.Set)}
	var optional []string
	if s.DedupeDefault {
		optional = s.Preset.OptionalPlaceholders
	}
	for _, src := range s.Dedupe {
		t, err := ts.set.Compile(src, optional)
		if err != nil {
			return nil, fmt.Errorf("%s %s: dedupe: %w", config.Directive, s.Preset.Name, err)
		}
		ts.dedupe = append(ts.dedupe, t)
	}
	if s.Preset.Event != "" {
		t, err := ts.set.Compile(s.Preset.Event, nil)
		if err != nil {
			return nil, fmt.Errorf("%s %s: event: %w", config.Directive, s.Preset.Name, err)
		}
		ts.event = t
	}
	return ts, nil
}
