package caddymodule

import (
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
)

// hdrRejected carries, under report_only, the reason a forwarded request
// failed verification.
const hdrRejected = "X-Callback-Rejected"

// reportedDrops are the headers a failed request must not carry: nothing
// derived from a request that was not verified.
var reportedDrops = []string{hdrID, hdrAttempt, hdrEvent, hdrOutcome, hdrClaims}

// newReporter is the guard as report_only forwards a failure: no store, so
// that a failed request is never deduplicated nor stored, and every result
// counted as reported.
func (g *Handler) newReporter() *Handler {
	rep := *g
	rep.store = nil
	rep.reporter = nil
	rep.metrics = g.metrics.reporting()
	return &rep
}

// report forwards a request that failed verification, marked
// X-Callback-Verified: none and X-Callback-Rejected: <reason>, with the
// forged X-Callback-* headers and the checked credentials removed as for
// any forward, and no X-Callback-* header but Provider and Deadline
// besides.
func (g *Handler) report(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, body []byte, reason verify.Reason, arrival time.Time) error {
	g.metrics.failed(reason)
	g.logFailure("callback failed verification, forwarded (report_only)", r, reason)
	var none verify.Output
	body, _ = g.prepareForward(r, body, &none, arrival)
	for _, name := range reportedDrops {
		delete(r.Header, name)
	}
	r.Header[hdrVerified] = []string{"none"}
	r.Header[hdrRejected] = []string{string(reason)}
	setForwardBody(r, body)
	return g.deliver(w, r, next, arrival, "", "")
}
