package caddymodule

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"

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
				return nil, d.Errf("%s global option: store: %v", config.Directive, err)
			}
			o.Store = st
		case "store_failure":
			if len(args) != 1 || (args[0] != config.StoreFailureOpen && args[0] != config.StoreFailureReject) {
				return nil, d.Errf("%s global option: want store_failure open|reject", config.Directive)
			}
			o.StoreFailure = args[0]
		default:
			return nil, d.Errf("%s global option: unknown subdirective %q (want store or store_failure)", config.Directive, sub)
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
		return d.Errf("%s: missing preset (want one of %s)", config.Directive, strings.Join(config.PresetNames, ", "))
	}
	g.Preset = d.Val()
	if _, ok := config.LookupPreset(g.Preset); !ok {
		return d.Errf("%s: unknown preset %q (want one of %s)", config.Directive, g.Preset, strings.Join(config.PresetNames, ", "))
	}
	if d.NextArg() {
		return d.Errf("%s %s: unexpected argument %q after the preset", config.Directive, g.Preset, d.Val())
	}
	for d.NextBlock(0) {
		sub := d.Val()
		errf := func(format string, args ...any) error {
			return d.Errf("%s %s: %s: "+format, append([]any{config.Directive, g.Preset, sub}, args...)...)
		}
		args := d.RemainingArgs()
		want := func(n int, usage string) error {
			if len(args) != n {
				return errf("want %d argument(s): %s %s", n, sub, usage)
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
			if err := want(0, ""); err != nil {
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
			j, err := unmarshalJWT(d, g.Preset)
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
			v, err := config.ParseDuration(args[0])
			if err != nil || v <= 0 {
				return errf("invalid duration %q", args[0])
			}
			switch sub {
			case "dedupe_ttl":
				g.DedupeTTL = config.Duration(v)
			case "deadline":
				g.Deadline = config.Duration(v)
			default:
				g.UpstreamTimeout = config.Duration(v)
			}
		case "on_timeout":
			if len(args) < 1 || len(args) > 2 {
				return errf("want on_timeout <status> [<body>]")
			}
			status, err := strconv.Atoi(args[0])
			if err != nil {
				return errf("invalid status %q", args[0])
			}
			g.OnTimeout = &config.OnTimeout{Status: status}
			if len(args) == 2 {
				g.OnTimeout.Body = args[1]
			}
		case "max_body":
			if err := want(1, "<size>"); err != nil {
				return err
			}
			n, err := humanize.ParseBytes(args[0])
			if err != nil || n == 0 || n > 1<<40 {
				return errf("invalid size %q (e.g. 1MiB, 512KB, 65536)", args[0])
			}
			g.MaxBody = int64(n)
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
			return errf("unknown subdirective")
		}
	}
	// Check what can be checked without the machine the config will run
	// on (key files and placeholders are Provision's), so that `caddy
	// adapt` already names the problem.
	settings, err := g.Guard.Resolve()
	if err != nil {
		return d.Err(err.Error())
	}
	if _, err := compileTemplates(settings); err != nil {
		return d.Err(err.Error())
	}
	if settings.HMAC != nil {
		if err := hmacScheme(settings.HMAC).Check(); err != nil {
			return d.Errf("%s %s: hmac: %v", config.Directive, g.Preset, err)
		}
	}
	return nil
}

// parseStore reads `store memory [<size>]` or `store redis <url>`.
func parseStore(args []string) (*config.Store, error) {
	if len(args) == 0 || len(args) > 2 {
		return nil, fmt.Errorf("want store memory [<size>], or store redis <url>")
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

func unmarshalJWT(d *caddyfile.Dispenser, preset string) (*config.JWT, error) {
	j := new(config.JWT)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		sub := d.Val()
		errf := func(format string, args ...any) error {
			return d.Errf("%s %s: jwt %s: "+format, append([]any{config.Directive, preset, sub}, args...)...)
		}
		args := d.RemainingArgs()
		switch sub {
		case "from":
			if len(args) != 2 {
				return nil, errf("want from form|json|header|query <name>")
			}
			j.From = append(j.From, config.TokenSource{Source: args[0], Name: args[1]})
		case "key":
			if len(args) != 2 {
				return nil, errf("want key <kid> <public-key-pem-file>")
			}
			j.Keys = append(j.Keys, config.JWTKey{KeyID: args[0], File: args[1]})
		case "secret":
			if len(args) != 1 {
				return nil, errf("want secret <hmac-secret>")
			}
			j.Secrets = append(j.Secrets, args[0])
		case "algs":
			if len(args) == 0 {
				return nil, errf("want at least one algorithm")
			}
			j.Algs = append(j.Algs, args...)
		case "leeway", "max_age":
			if len(args) != 1 {
				return nil, errf("want %s <duration>", sub)
			}
			v, err := config.ParseDuration(args[0])
			if err != nil || v < 0 {
				return nil, errf("invalid duration %q", args[0])
			}
			dv := config.Duration(v)
			if sub == "leeway" {
				j.Leeway = &dv
			} else {
				j.MaxAge = dv
			}
		default:
			return nil, errf("unknown jwt subdirective")
		}
	}
	return j, nil
}
