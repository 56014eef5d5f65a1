package cli

import (
	"net/http"
	"time"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
)

// OfflineGuard is a provisioned callback_guard handler as verify uses it.
// caddymodule.Handler implements it; verify loads the handler through
// Caddy's module registry, so that this package needs no import of the
// module (which imports this package to bring the command).
type OfflineGuard interface {
	// CheckOffline runs the guard's own checks on r and its body as of
	// now. When they pass, r becomes the request the backend would
	// receive.
	CheckOffline(r *http.Request, body []byte, now time.Time) Verdict
}

// Verdict is what a guard makes of a request.
type Verdict struct {
	// Preset is the guard's preset.
	Preset string
	// Checks lists the kinds of authentication the guard checks, as in
	// X-Callback-Verified: "header_secret,jwt".
	Checks string
	// MaxBody is the largest body accepted; TooLarge tells that the body
	// is larger (answered 413, nothing checked).
	MaxBody  int64
	TooLarge bool
	// Reason is why the request is rejected with 401; "" when accepted.
	Reason verify.Reason
	// ClientURL is the URL a signed_url check covers: the scheme and host
	// the client used, and the request target ("" without signed_url).
	ClientURL string

	// Headers are the X-Callback-* headers the backend would receive, in
	// the contract's order; Body is the body it would receive.
	Headers [][2]string
	Body    []byte
	// Claims are the verified JWT claims as JSON (nil without a token).
	Claims []byte
	// DedupeKey is the delivery's key ("" when no template resolves), and
	// Deduplicated tells whether the request's method is deduplicated.
	DedupeKey    string
	Deduplicated bool
}
