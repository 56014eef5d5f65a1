package caddymodule

import (
	"net/http"
	"time"

	"github.com/callbackguard/callbackguard/caddymodule/cli"
	"github.com/callbackguard/callbackguard/caddymodule/verify"
)

// CheckOffline runs the guard's checks and prepares the forward as
// ServeHTTP does, for `caddy callback verify` (package cli, which this
// import brings into every Caddy built with the module).
func (g *Handler) CheckOffline(r *http.Request, body []byte, now time.Time) cli.Verdict {
	v := cli.Verdict{Preset: g.settings.Preset.Name, Checks: g.verified, MaxBody: g.settings.MaxBody}
	if g.needsClientURL {
		scheme, host := clientURL(r)
		v.ClientURL = scheme + "://" + host + r.RequestURI
	}
	if int64(len(body)) > g.settings.MaxBody {
		v.TooLarge = true
		return v
	}
	var out verify.Output
	if v.Reason = g.check(r, body, now, &out); v.Reason != "" {
		return v
	}
	v.Claims = out.ClaimsJSON
	v.Body, v.DedupeKey = g.prepareForward(r, body, &out, now)
	v.Deduplicated = dedupeMethod(r.Method)
	for _, name := range []string{hdrProvider, hdrVerified, hdrID, hdrAttempt, hdrEvent, hdrOutcome, hdrDeadline, hdrClaims} {
		if val := r.Header.Get(name); val != "" {
			v.Headers = append(v.Headers, [2]string{name, val})
		}
	}
	return v
}

var _ cli.OfflineGuard = (*Handler)(nil)
