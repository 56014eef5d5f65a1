package caddymodule

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/callbackguard/callbackguard/caddymodule/deadline"
	"github.com/callbackguard/callbackguard/caddymodule/template"
	"github.com/callbackguard/callbackguard/caddymodule/verify"
	"github.com/callbackguard/callbackguard/caddymodule/verify/hmacsig"
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
		return fmt.Errorf("metrics: %w", err)
	}
	g.metrics = newGuardCounters(s.Preset.Name)
	if err := g.buildVerifiers(&guard, s); err != nil {
		return err
	}
	ts, err := compileTemplates(s)
	if err != nil {
		return err
	}
	g.templates, g.dedupe, g.event, g.outcomeFrom = ts.set, ts.dedupe, ts.event, ts.outcome
	g.onTimeout = onTimeoutAnswer(s.OnTimeout)
	g.forwards = deadline.NewForwards(maxKeptForwards)
	g.maxAnswer = int(min(s.MaxAnswer, math.MaxInt))
	if len(g.dedupe) > 0 {
		if err := g.openStore(s); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		g.storeErrors = storeErrorCounter(g.store.Kind())
	} else if err := checkStore(s); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if s.ReportOnly {
		g.reporter = g.newReporter()
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
			firstErr = fmt.Errorf("%s: %w", what, err)
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
	if in.HMAC != nil {
		h := *in.HMAC
		h.Secrets = append([]string(nil), in.HMAC.Secrets...)
		for i := range h.Secrets {
			h.Secrets[i] = expand("hmac secret", h.Secrets[i])
		}
		h.PublicKeys = append([]string(nil), in.HMAC.PublicKeys...)
		for i := range h.PublicKeys {
			h.PublicKeys[i] = expand("hmac public_key", h.PublicKeys[i])
		}
		h.NotificationURL = expand("hmac notification_url", h.NotificationURL)
		g.HMAC = &h
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
// check never costs a signature verification. Each secret line is an
// alternative of its own, named by a fingerprint that scopes dedupe keys.
func (g *Handler) buildVerifiers(guard *config.Guard, s *config.Settings) error {
	var groups []verifierGroup
	var kinds []string
	add := func(kind string, alts ...verify.Verifier) {
		groups = append(groups, verifierGroup{kind: kind, alts: alts})
		kinds = append(kinds, kind)
	}
	// addAlt adds one alternative to the kind's group (made when the kind
	// is new), named by the fingerprint of its secret material.
	addAlt := func(kind string, v verify.Verifier, material ...string) {
		if len(groups) == 0 || groups[len(groups)-1].kind != kind {
			add(kind)
		}
		vg := &groups[len(groups)-1]
		vg.alts = append(vg.alts, v)
		vg.credentials = append(vg.credentials, fingerprint(kind, material...))
	}
	for _, b := range guard.BasicAuth {
		ba := verify.NewBasicAuth()
		if err := ba.Add(b.Username, b.Password); err != nil {
			return err
		}
		addAlt("basic_auth", ba, b.Username, b.Password)
		g.stripAuthorization = true
	}
	for _, h := range guard.HeaderSecret {
		name := http.CanonicalHeaderKey(h.Header)
		hs := verify.NewHeaderSecret(name)
		hs.Add(h.Value)
		addAlt("header_secret", hs, name, h.Value)
		g.stripHeaders = appendNew(g.stripHeaders, name)
	}
	for _, q := range guard.QuerySecret {
		qs := verify.NewQuerySecret(q.Param)
		qs.Add(q.Secret)
		addAlt("query_secret", qs, q.Param, q.Secret)
		g.stripParams = appendNew(g.stripParams, q.Param)
	}
	for _, su := range guard.SignedURL {
		v, err := signedurl.New(su.Param, []byte(su.Secret))
		if err != nil {
			return fmt.Errorf("signed_url: %w", err)
		}
		addAlt("signed_url", v, su.Param, su.Secret)
		g.needsClientURL = true
	}
	if s.HMAC != nil {
		v, err := hmacsig.FromConfig(s.HMAC)
		if err != nil {
			return fmt.Errorf("hmac: %w", err)
		}
		add("hmac", v)
	}
	if s.JWT != nil {
		v, material, err := buildJWT(s)
		if err != nil {
			return fmt.Errorf("jwt: %w", err)
		}
		addAlt("jwt", v, material...)
		if v.UsesAuthorizationHeader() {
			g.stripAuthorization = true
		}
		for _, f := range s.JWT.From {
			if f.Source == config.SourceHeader {
				g.checkedHeaders = appendNew(g.checkedHeaders, strings.ToLower(f.Name))
			}
		}
	}
	g.verified = strings.Join(kinds, ",")
	g.groups, g.bodyGroups = orderByBody(groups)
	g.checkedHeaders = append(g.checkedHeaders, checkedHeaders(g)...)
	return nil
}

// fingerprint names a credential without revealing it: a truncated
// SHA-256 of its kind and secret material. It is the same on every
// instance with the same configuration, so that they share dedupe keys.
func fingerprint(kind string, material ...string) string {
	h := sha256.New()
	h.Write([]byte("callback_guard credential\x00" + kind))
	for _, m := range material {
		// Length-prefixed, so that no two lists of parts hash alike.
		h.Write(binary.AppendUvarint(nil, uint64(len(m))))
		h.Write([]byte(m))
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// headerOnlyKinds are the kinds that never read the body.
var headerOnlyKinds = map[string]bool{"basic_auth": true, "header_secret": true, "query_secret": true, "signed_url": true}

// orderByBody fills each group's readsBody and moves the groups that read
// the body after the others (keeping their order), so that header and
// query credentials are checked before the body is read. It returns the
// number of groups that read no body.
func orderByBody(groups []verifierGroup) ([]verifierGroup, int) {
	for i := range groups {
		vg := &groups[i]
		for len(vg.credentials) < len(vg.alts) {
			vg.credentials = append(vg.credentials, "")
		}
		if headerOnlyKinds[vg.kind] {
			continue
		}
		for _, v := range vg.alts {
			br, ok := v.(verify.BodyReader)
			// A verifier that does not say is assumed to read the body.
			vg.readsBody = vg.readsBody || !ok || br.ReadsBody()
		}
	}
	slices.SortStableFunc(groups, func(a, b verifierGroup) int {
		switch {
		case a.readsBody == b.readsBody:
			return 0
		case a.readsBody:
			return 1
		}
		return -1
	})
	n := 0
	for n < len(groups) && !groups[n].readsBody {
		n++
	}
	return groups, n
}

// headerLister is implemented by verifiers that read credentials from
// headers of their own choosing (a signature header).
type headerLister interface{ CheckedHeaders() []string }

// checkedHeaders lists, in lower case, the headers that the guard read a
// credential from and strips, and those its verifiers name.
func checkedHeaders(g *Handler) []string {
	var names []string
	if g.stripAuthorization {
		names = append(names, "authorization")
	}
	for _, h := range g.stripHeaders {
		names = appendNew(names, strings.ToLower(h))
	}
	for _, vg := range g.groups {
		for _, v := range vg.alts {
			if hl, ok := v.(headerLister); ok {
				for _, h := range hl.CheckedHeaders() {
					names = appendNew(names, strings.ToLower(h))
				}
			}
		}
	}
	return names
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// buildJWT builds the jwt verifier and returns the material that names
// its configuration: the keys and secrets.
func buildJWT(s *config.Settings) (*jwtauth.Verifier, []string, error) {
	j := s.JWT
	cfg := jwtauth.Config{
		Algs:   j.Algs,
		Leeway: s.Leeway,
		MaxAge: time.Duration(j.MaxAge),
	}
	for _, f := range j.From {
		cfg.Sources = append(cfg.Sources, jwtauth.Source{Kind: f.Source, Name: f.Name})
	}
	var material []string
	for _, k := range j.Keys {
		data, err := os.ReadFile(k.File)
		if err != nil {
			return nil, nil, fmt.Errorf("key %s: %w", k.KeyID, err)
		}
		pub, err := jwtauth.ParsePublicKeyPEM(data)
		if err != nil {
			return nil, nil, fmt.Errorf("key %s: %s: %w", k.KeyID, k.File, err)
		}
		cfg.Keys = append(cfg.Keys, jwtauth.Key{ID: k.KeyID, Key: pub})
		material = append(material, k.KeyID, string(data))
	}
	for _, sec := range j.Secrets {
		cfg.Secrets = append(cfg.Secrets, []byte(sec))
		material = append(material, sec)
	}
	v, err := jwtauth.New(cfg)
	return v, material, err
}

// compiledTemplates are a guard's templates sharing one read of the body.
type compiledTemplates struct {
	set     *template.Set
	dedupe  []*template.Template
	event   *template.Template
	outcome *template.Template
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
			return nil, &config.FieldError{Field: "dedupe", Index: -1, Err: fmt.Errorf("dedupe: %w", err)}
		}
		ts.dedupe = append(ts.dedupe, t)
	}
	if s.Preset.Event != "" {
		t, err := ts.set.Compile(s.Preset.Event, nil)
		if err != nil {
			return nil, fmt.Errorf("the %s preset's event: %w", s.Preset.Name, err)
		}
		ts.event = t
	}
	if s.Preset.Outcome != "" {
		t, err := ts.set.Compile(s.Preset.Outcome, nil)
		if err != nil {
			return nil, fmt.Errorf("the %s preset's outcome: %w", s.Preset.Name, err)
		}
		ts.outcome = t
	}
	return ts, nil
}
