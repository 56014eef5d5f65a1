package caddymodule

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/callbackguard/callbackguard/caddymodule/verify/hmacsig"
	"github.com/callbackguard/callbackguard/config"
)

// unmarshalHMAC reads one hmac line: `hmac <secret>`, or a block
//
//	hmac {
//		secret          <secret>
//		secret_encoding raw|base64|hex|whsec
//		header          <name> [<prefix>]
//		algorithm       sha1|sha256|sha512
//		encoding        hex|base64|base64url
//		signed          <template>
//		timestamp       <template>
//		tolerance       <past> [<future>]
//		notification_url <url>
//		public_key      <key>
//	}
//
// Every hmac line adds to the guard's one scheme: secrets and public keys
// accumulate (alternatives), an option may be given once.
func unmarshalHMAC(d *caddyfile.Dispenser, g *Handler, args []string) error {
	if g.HMAC == nil {
		g.HMAC = new(config.HMAC)
	}
	h := g.HMAC
	if len(args) > 1 {
		return d.Errf("hmac: want <secret>, or a block")
	}
	h.Secrets = append(h.Secrets, args...)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		sub := d.Val()
		errf := func(format string, a ...any) error {
			return d.Errf("hmac %s: "+format, append([]any{sub}, a...)...)
		}
		vals := d.RemainingArgs()
		one := func(dst *string, usage string) error {
			if len(vals) != 1 {
				return errf("want %s", usage)
			}
			if *dst != "" {
				return errf("given twice")
			}
			*dst = vals[0]
			return nil
		}
		var err error
		switch sub {
		case "secret":
			if len(vals) != 1 {
				return errf("want <secret>")
			}
			h.Secrets = append(h.Secrets, vals[0])
		case "public_key":
			if len(vals) != 1 {
				return errf("want <whpk_ key>")
			}
			h.PublicKeys = append(h.PublicKeys, vals[0])
		case "secret_encoding":
			err = one(&h.SecretEncoding, "raw|base64|hex|whsec")
		case "algorithm":
			err = one(&h.Algorithm, "sha1|sha256|sha512")
		case "encoding":
			err = one(&h.Encoding, "hex|base64|base64url")
		case "notification_url":
			err = one(&h.NotificationURL, "<url>")
		case "header":
			if len(vals) < 1 || len(vals) > 2 {
				return errf("want <name> [<prefix>]")
			}
			if h.Header != "" {
				return errf("given twice")
			}
			h.Header = vals[0]
			if len(vals) == 2 {
				h.Prefix = vals[1]
			}
		case "signed", "timestamp":
			dst := &h.Signed
			if sub == "timestamp" {
				dst = &h.Timestamp
			}
			if err := one(dst, "<template>"); err != nil {
				return err
			}
			if err := hmacsig.CheckTemplate(vals[0], sub == "signed"); err != nil {
				return errf("%v", err)
			}
		case "tolerance":
			err = unmarshalTolerance(h, vals, errf)
		default:
			return d.Errf("unknown hmac subdirective %q", sub)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func unmarshalTolerance(h *config.HMAC, vals []string, errf func(string, ...any) error) error {
	if len(vals) < 1 || len(vals) > 2 {
		return errf("want <past> [<future>]")
	}
	if h.Tolerance != nil {
		return errf("given twice")
	}
	var ds []caddy.Duration
	for _, v := range vals {
		d, err := caddy.ParseDuration(v)
		if err != nil || d <= 0 {
			return errf("invalid duration %q (want a positive duration such as 5m or 1d)", v)
		}
		ds = append(ds, caddy.Duration(d))
	}
	h.Tolerance = &ds[0]
	if len(ds) == 2 {
		h.ToleranceFuture = &ds[1]
	}
	return nil
}
