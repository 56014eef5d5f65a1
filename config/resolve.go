package config

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Settings is a Guard with its preset's defaults filled in and every value
// checked: what the handler runs with.
type Settings struct {
	Preset *Preset
	Dedupe []string // nil: deduplication off
	// DedupeDefault tells that Dedupe is the preset's own default, whose
	// placeholders listed in Preset.OptionalPlaceholders may be empty.
	DedupeDefault   bool
	DedupeTTL       time.Duration
	Deadline        time.Duration
	UpstreamTimeout time.Duration
	OnTimeout       OnTimeout
	MaxBody         int64
	ForwardClaims   string
	Store           Store
	StoreFailure    string
	// JWT is the user's jwt block laid over the preset's (nil: no jwt).
	JWT *JWT
	// Leeway is the JWT leeway in effect.
	Leeway time.Duration
	// HMAC is the user's hmac block laid over the preset's scheme (nil:
	// no hmac).
	HMAC *SignatureScheme
	// ReportOnly forwards failures, marked, instead of rejecting them.
	ReportOnly bool
}

// Resolve checks the guard and fills in the preset's defaults. Secrets must
// already have had their placeholders expanded: an empty one is an error.
// Errors name the directive and the problem.
func (g *Guard) Resolve() (*Settings, error) {
	p, ok := LookupPreset(g.Preset)
	if !ok {
		if g.Preset == "" {
			return nil, fmt.Errorf("%s: missing preset (want one of %s)", Directive, strings.Join(PresetNames, ", "))
		}
		return nil, fmt.Errorf("%s: unknown preset %q (want one of %s)", Directive, g.Preset, strings.Join(PresetNames, ", "))
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s %s: "+format, append([]any{Directive, p.Name}, args...)...)
	}
	if err := g.checkAuth(); err != nil {
		return nil, fail("%w", err)
	}
	s := &Settings{
		Preset:          p,
		Dedupe:          p.Dedupe,
		DedupeDefault:   true,
		DedupeTTL:       p.DedupeTTL,
		Deadline:        p.Deadline,
		UpstreamTimeout: DefaultUpstreamTimeout,
		OnTimeout:       OnTimeout{Status: DefaultOnTimeoutStatus},
		MaxBody:         DefaultMaxBody,
		ForwardClaims:   ForwardClaimsOff,
		Store:           Store{Kind: StoreMemory},
		StoreFailure:    StoreFailureOpen,
		Leeway:          DefaultLeeway,
		ReportOnly:      g.ReportOnly,
	}
	if len(g.Dedupe) > 0 {
		s.DedupeDefault = false
		if g.Dedupe[0] == DedupeOff {
			if len(g.Dedupe) > 1 {
				return nil, fail(`dedupe: "off" takes no other template`)
			}
			s.Dedupe = nil
		} else {
			for _, t := range g.Dedupe {
				if strings.TrimSpace(t) == "" || t == DedupeOff {
					return nil, fail("dedupe: empty template or \"off\" among templates")
				}
				if strings.Contains(t, "{body}") {
					return nil, fail("dedupe: {body} is the raw body and stands only in an hmac block's signed template (use {body.sha256})")
				}
			}
			s.Dedupe = g.Dedupe
		}
	}
	for _, d := range []struct {
		name string
		val  Duration
		dst  *time.Duration
	}{
		{"dedupe_ttl", g.DedupeTTL, &s.DedupeTTL},
		{"deadline", g.Deadline, &s.Deadline},
		{"upstream_timeout", g.UpstreamTimeout, &s.UpstreamTimeout},
	} {
		if d.val < 0 {
			return nil, fail("%s must be positive, got %s", d.name, time.Duration(d.val))
		}
		if d.val > 0 {
			*d.dst = time.Duration(d.val)
		}
	}
	if s.Deadline > s.UpstreamTimeout {
		return nil, fail("deadline %s is longer than upstream_timeout %s: the forward would be cut off before the provider's answer is due; raise upstream_timeout or lower deadline (the %s preset's deadline is %s)", s.Deadline, s.UpstreamTimeout, p.Name, p.Deadline)
	}
	if g.OnTimeout != nil {
		if g.OnTimeout.Status < 200 || g.OnTimeout.Status > 599 {
			return nil, fail("on_timeout: status %d is not an HTTP status from 200 to 599", g.OnTimeout.Status)
		}
		s.OnTimeout = *g.OnTimeout
	}
	if g.MaxBody < 0 {
		return nil, fail("max_body must be positive, got %d", g.MaxBody)
	}
	if g.MaxBody > 0 {
		s.MaxBody = g.MaxBody
	}
	switch g.ForwardClaims {
	case "", ForwardClaimsOff:
	case ForwardClaimsHeader, ForwardClaimsBody:
		if g.JWT == nil {
			return nil, fail("forward_claims %s needs a jwt block: there are no claims to forward", g.ForwardClaims)
		}
		s.ForwardClaims = g.ForwardClaims
	default:
		return nil, fail("forward_claims: unknown mode %q (want off, header or body)", g.ForwardClaims)
	}
	if g.Store != nil {
		switch g.Store.Kind {
		case StoreMemory:
			if g.Store.URL != "" {
				return nil, fail("store memory takes no URL")
			}
			if g.Store.MaxBytes < 0 {
				return nil, fail("store memory: size must be positive")
			}
		case StoreRedis:
			if g.Store.URL == "" {
				return nil, fail("store redis needs a URL, e.g. redis://localhost:6379/0")
			}
			if g.Store.MaxBytes != 0 {
				return nil, fail("store redis takes no size")
			}
		default:
			return nil, fail("store: unknown kind %q (want memory or redis)", g.Store.Kind)
		}
		s.Store = *g.Store
	}
	switch g.StoreFailure {
	case "":
	case StoreFailureOpen, StoreFailureReject:
		s.StoreFailure = g.StoreFailure
	default:
		return nil, fail("store_failure: unknown mode %q (want open or reject)", g.StoreFailure)
	}
	if g.JWT != nil {
		j, err := mergeJWT(p.JWT, g.JWT)
		if err != nil {
			return nil, fail("jwt: %w", err)
		}
		s.JWT = j
		if j.Leeway != nil {
			s.Leeway = time.Duration(*j.Leeway)
		}
	}
	if g.HMAC != nil {
		h, err := resolveHMAC(p, g.HMAC)
		if err != nil {
			return nil, fail("hmac: %w", err)
		}
		s.HMAC = h
	}
	return s, nil
}

// checkAuth requires at least one authentication and rejects incomplete
// lines, including secrets that expanded to nothing.
func (g *Guard) checkAuth() error {
	if len(g.BasicAuth)+len(g.QuerySecret)+len(g.HeaderSecret)+len(g.SignedURL) == 0 && g.JWT == nil && g.HMAC == nil {
		return errors.New("no authentication configured: add basic_auth, query_secret, header_secret, signed_url, hmac or jwt")
	}
	for _, b := range g.BasicAuth {
		switch {
		case b.Username == "":
			return errors.New("basic_auth: empty user")
		case strings.Contains(b.Username, ":"):
			return fmt.Errorf("basic_auth: user %q contains ':', which Basic authentication cannot carry", b.Username)
		case b.Password == "":
			return fmt.Errorf("basic_auth %s: empty password (after placeholder expansion)", b.Username)
		}
	}
	for _, q := range g.QuerySecret {
		if q.Param == "" {
			return errors.New("query_secret: empty parameter name")
		}
		if q.Secret == "" {
			return fmt.Errorf("query_secret %s: empty secret (after placeholder expansion)", q.Param)
		}
	}
	for _, h := range g.HeaderSecret {
		if h.Header == "" || strings.ContainsAny(h.Header, " \t:\r\n") {
			return fmt.Errorf("header_secret: invalid header name %q", h.Header)
		}
		if h.Value == "" {
			return fmt.Errorf("header_secret %s: empty value (after placeholder expansion)", h.Header)
		}
	}
	for _, s := range g.SignedURL {
		if s.Param == "" {
			return errors.New("signed_url: empty parameter name")
		}
		if s.Secret == "" {
			return fmt.Errorf("signed_url %s: empty secret (after placeholder expansion)", s.Param)
		}
	}
	if g.JWT != nil {
		if len(g.JWT.Keys) == 0 && len(g.JWT.Secrets) == 0 {
			return errors.New("jwt: no key and no secret: add key <kid> <pem-file> or secret <hmac-secret>")
		}
		for _, k := range g.JWT.Keys {
			if k.File == "" {
				return fmt.Errorf("jwt: key %q has no file", k.KeyID)
			}
		}
		for _, s := range g.JWT.Secrets {
			if s == "" {
				return errors.New("jwt: empty secret (after placeholder expansion)")
			}
		}
	}
	return nil
}

// mergeJWT lays the user's jwt block over the preset's defaults.
func mergeJWT(preset, user *JWT) (*JWT, error) {
	j := *user
	if preset != nil {
		if len(j.From) == 0 {
			j.From = preset.From
		}
		if len(j.Algs) == 0 {
			j.Algs = preset.Algs
		}
	}
	for _, f := range j.From {
		switch f.Source {
		case SourceForm, SourceJSON, SourceHeader, SourceQuery:
		default:
			return nil, fmt.Errorf("from: unknown source %q (want form, json, header or query)", f.Source)
		}
		if f.Name == "" {
			return nil, fmt.Errorf("from %s: missing name", f.Source)
		}
	}
	if j.Leeway != nil && *j.Leeway < 0 {
		return nil, fmt.Errorf("leeway must not be negative")
	}
	if j.MaxAge < 0 {
		return nil, fmt.Errorf("max_age must not be negative")
	}
	return &j, nil
}
