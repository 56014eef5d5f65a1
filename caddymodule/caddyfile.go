package caddymodule

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"

	"github.com/callbackguard/callbackguard/caddymodule/verify/hmacsig"
	"github.com/callbackguard/callbackguard/config"
)

// parseCaddyfile sets up the handler from Caddyfile tokens, starting from
// the defaults of the callback_guard global option.
func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	var g Handler
	if defaults, ok := h.Option(config.Directive).(*globalDefaults); ok {
		if defaults.Store != nil {
			st := *defaults.Store
			g.Store = &st
		}
		g.StoreFailure = defaults.StoreFailure
	}
	err := g.UnmarshalCaddyfile(h.Dispenser)
	return &g, err
}

// globalDefaults are what the callback_guard global option sets for every
// guard of the Caddyfile, so that a site with many guards names its store
// once:
//
//	{
//		callback_guard {
//			store redis redis://10.0.0.5:6379/0
//			store_failure reject
//		}
//	}
type globalDefaults struct {
	Store        *config.Store
	StoreFailure string
}

func parseGlobalOption(d *caddyfile.Dispenser, _ any) (any, error) {
	d.Next() // the option's name
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	o := new(globalDefaults)
	for d.NextBlock(0) {
		sub := d.Val()
		args := d.RemainingArgs()
		switch sub {
		case "store":
			st, err := parseStore(args)
			if err != nil {
				return nil, d.Errf("store: %v", err)
			}
			o.Store = st
		case "store_failure":
			if len(args) != 1 || (args[0] != config.StoreFailureOpen && args[0] != config.StoreFailureReject) {
				return nil, d.Errf("store_failure: want open or reject")
			}
			o.StoreFailure = args[0]
		default:
			return nil, d.Errf("unknown subdirective %q (want store or store_failure)", sub)
		}
	}
	return o, nil
}

// UnmarshalCaddyfile reads the directive:
//
//	callback_guard [<matcher>] <preset> {
//		basic_auth    <user> <password>
//		query_secret  <param> <secret>
//		header_secret <header> <value>
//		signed_url    <param> <secret>
//		hmac          <secret> | hmac { … } (see unmarshalHMAC)
//		jwt {
//			from    form|json|header|query <name>
//			key     <kid> <public-key-pem-file>
//			secret  <hmac-secret>
//			algs    <alg>...
//			leeway  <duration>
//			max_age <duration>
//		}
//		dedupe     <template>... | off
//		dedupe_ttl <duration>
//		deadline   <duration>
//		on_timeout <status> [<body>]
//		upstream_timeout <duration>
//		max_body   <size>
//		max_answer <size>
//		forward_claims off|header|body
//		report_only
//		store memory | redis <url>
//		store_failure open|reject
//	}
//
// Lines of the same kind of authentication are alternatives (key rotation);
// every kind listed must pass.
func (g *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive's name
	if !d.NextArg() {
		return d.Errf("missing preset (want one of %s)", strings.Join(config.PresetNames, ", "))
	}
	g.Preset = d.Val()
	if _, ok := config.LookupPreset(g.Preset); !ok {
		return d.Errf("unknown preset %q (want one of %s)", g.Preset, strings.Join(config.PresetNames, ", "))
	}
	directive := d.Token()
	if d.NextArg() {
		return d.Errf("unexpected argument %q after the preset", d.Val())
	}
	// The line of each subdirective, to report what Resolve finds there.
	lines := map[string][]caddyfile.Token{}
	for d.NextBlock(0) {
		sub := d.Val()
		lines[sub] = append(lines[sub], d.Token())
		errf := func(format string, args ...any) error {
			return d.Errf("%s: "+format, append([]any{sub}, args...)...)
		}
		args := d.RemainingArgs()
		want := func(n int, usage string) error {
			if len(args) != n {
				return errf("want %s", usage)
			}
			return nil
		}
		switch sub {
		case "basic_auth":
			if err := want(2, "<user> <password>"); err != nil {
				return err
			}
			g.BasicAuth = append(g.BasicAuth, config.BasicAuth{Username: args[0], Password: args[1]})
		case "query_secret":
			if err := want(2, "<param> <secret>"); err != nil {
				return err
			}
			g.QuerySecret = append(g.QuerySecret, config.QuerySecret{Param: args[0], Secret: args[1]})
		case "header_secret":
			if err := want(2, "<header> <value>"); err != nil {
				return err
			}
			g.HeaderSecret = append(g.HeaderSecret, config.HeaderSecret{Header: args[0], Value: args[1]})
		case "signed_url":
			if err := want(2, "<param> <secret>"); err != nil {
				return err
			}
			g.SignedURL = append(g.SignedURL, config.SignedURL{Param: args[0], Secret: args[1]})
		case "hmac":
			if err := unmarshalHMAC(d, g, args); err != nil {
				return err
			}
		case "report_only":
			if err := want(0, "no argument"); err != nil {
				return err
			}
			g.ReportOnly = true
		case "jwt":
			if len(args) != 0 {
				return errf("takes a block, not arguments")
			}
			if g.JWT != nil {
				return errf("given twice: put every key and secret in one jwt block")
			}
			j, err := unmarshalJWT(d)
			if err != nil {
				return err
			}
			g.JWT = j
		case "dedupe":
			if len(args) == 0 {
				return errf("want at least one template, or off")
			}
			g.Dedupe = args
		case "dedupe_ttl", "deadline", "upstream_timeout":
			if err := want(1, "<duration>"); err != nil {
				return err
			}
			v, err := caddy.ParseDuration(args[0])
			if err != nil || v <= 0 {
				return errf("invalid duration %q (want a positive duration such as 4500ms, 10m or 1d)", args[0])
			}
			switch sub {
			case "dedupe_ttl":
				g.DedupeTTL = caddy.Duration(v)
			case "deadline":
				g.Deadline = caddy.Duration(v)
			default:
				g.UpstreamTimeout = caddy.Duration(v)
			}
		case "on_timeout":
			if len(args) < 1 || len(args) > 2 {
				return errf("want <status> [<body>]")
			}
			status, err := strconv.Atoi(args[0])
			if err != nil {
				return errf("invalid status %q", args[0])
			}
			g.OnTimeout = &config.OnTimeout{Status: status}
			if len(args) == 2 {
				g.OnTimeout.Body = args[1]
			}
		case "max_body", "max_answer":
			if err := want(1, "<size>"); err != nil {
				return err
			}
			n, err := humanize.ParseBytes(args[0])
			if err != nil || n == 0 || n > 1<<40 {
				return errf("invalid size %q (e.g. 1MiB, 512KB, 65536)", args[0])
			}
			if sub == "max_body" {
				g.MaxBody = int64(n)
			} else {
				g.MaxAnswer = int64(n)
			}
		case "forward_claims":
			if err := want(1, "off|header|body"); err != nil {
				return err
			}
			g.ForwardClaims = args[0]
		case "store":
			st, err := parseStore(args)
			if err != nil {
				return errf("%v", err)
			}
			g.Store = st
		case "store_failure":
			if err := want(1, "open|reject"); err != nil {
				return err
			}
			g.StoreFailure = args[0]
		default:
			return d.Errf("unknown subdirective %q", sub)
		}
	}
	// Check what can be checked without the machine the config will run
	// on (key files and placeholders are Provision's), so that `caddy
	// adapt` already names the problem, at its line.
	settings, err := g.Guard.Resolve()
	if err == nil {
		_, err = compileTemplates(settings)
	}
	if err == nil && settings.HMAC != nil {
		if herr := hmacsig.SchemeOf(settings.HMAC).Check(); herr != nil {
			err = &config.FieldError{Field: "hmac", Index: -1, Err: fmt.Errorf("hmac: %w", herr)}
		}
	}
	if err != nil {
		return errAt(lineOf(err, lines, directive), err)
	}
	return nil
}

// lineOf is the line that set the field an error is about, or the
// directive's when the error is about no one line (a global option's
// store, no authentication at all).
func lineOf(err error, lines map[string][]caddyfile.Token, directive caddyfile.Token) caddyfile.Token {
	var fe *config.FieldError
	if !errors.As(err, &fe) {
		return directive
	}
	toks := lines[fe.Field]
	switch {
	case len(toks) == 0:
		return directive
	case fe.Index < 0 || fe.Index >= len(toks):
		return toks[len(toks)-1] // the line that set a single value last
	default:
		return toks[fe.Index]
	}
}

// errAt reports err at a token already passed, as d.Errf does at the
// current one.
func errAt(tok caddyfile.Token, err error) error {
	d := caddyfile.NewDispenser([]caddyfile.Token{tok})
	d.Next()
	return d.WrapErr(err)
}

// parseStore reads `store memory [<size>]` or `store redis <url>`.
func parseStore(args []string) (*config.Store, error) {
	if len(args) == 0 || len(args) > 2 {
		return nil, errors.New("want memory [<size>] or redis <url>")
	}
	st := &config.Store{Kind: args[0]}
	if len(args) == 2 {
		switch args[0] {
		case config.StoreMemory:
			n, err := humanize.ParseBytes(args[1])
			if err != nil || n == 0 {
				return nil, fmt.Errorf("invalid size %q (e.g. 256MiB)", args[1])
			}
			st.MaxBytes = int64(n)
		default:
			st.URL = args[1]
		}
	}
	return st, nil
}

func unmarshalJWT(d *caddyfile.Dispenser) (*config.JWT, error) {
	j := new(config.JWT)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		sub := d.Val()
		errf := func(format string, args ...any) error {
			return d.Errf("jwt %s: "+format, append([]any{sub}, args...)...)
		}
		args := d.RemainingArgs()
		switch sub {
		case "from":
			if len(args) != 2 {
				return nil, errf("want form|json|header|query <name>")
			}
			j.From = append(j.From, config.TokenSource{Source: args[0], Name: args[1]})
		case "key":
			if len(args) != 2 {
				return nil, errf("want <kid> <public-key-pem-file>")
			}
			j.Keys = append(j.Keys, config.JWTKey{KeyID: args[0], File: args[1]})
		case "secret":
			if len(args) != 1 {
				return nil, errf("want <hmac-secret>")
			}
			j.Secrets = append(j.Secrets, args[0])
		case "algs":
			if len(args) == 0 {
				return nil, errf("want at least one algorithm")
			}
			j.Algs = append(j.Algs, args...)
		case "leeway", "max_age":
			if len(args) != 1 {
				return nil, errf("want <duration>")
			}
			v, err := caddy.ParseDuration(args[0])
			if err != nil || v < 0 {
				return nil, errf("invalid duration %q (want e.g. 30s, 10m or 1d)", args[0])
			}
			dv := caddy.Duration(v)
			if sub == "leeway" {
				j.Leeway = &dv
			} else {
				j.MaxAge = dv
			}
		default:
			return nil, d.Errf("unknown jwt subdirective %q", sub)
		}
	}
	return j, nil
}
