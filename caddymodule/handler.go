package caddymodule

import (
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/callbackguard/callbackguard/caddymodule/template"
	"github.com/callbackguard/callbackguard/caddymodule/verify"
	"github.com/callbackguard/callbackguard/config"
)

// The headers the guard sets for the backend.
const (
	hdrProvider = "X-Callback-Provider"
	hdrVerified = "X-Callback-Verified"
	hdrID       = "X-Callback-Id"
	hdrAttempt  = "X-Callback-Attempt"
	hdrEvent    = "X-Callback-Event"
	hdrOutcome  = "X-Callback-Outcome"
	hdrDeadline = "X-Callback-Deadline"
	hdrClaims   = "X-Callback-Claims"
	hdrPrefix   = "X-Callback-"
)

// ServeHTTP verifies the callback, then forwards it, clean, to next, within
// the provider's deadline and at most once per dedupe key.
func (g *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	arrival := time.Now()
	if hasFragment(r) {
		closeUnread(w, r)
		g.answerError(w, r, http.StatusBadRequest, "bad_request_target")
		g.done(resultRejected, arrival)
		return nil
	}
	if r.ContentLength > g.settings.MaxBody {
		return g.tooLarge(w, r, arrival)
	}
	in := verify.Input{Request: r, Now: arrival}
	var out verify.Output
	// Credentials in headers and the query first: an unauthenticated
	// request costs no more than the bytes it sent. Under report_only a
	// failure is forwarded, so the body is read all the same.
	scope, reason := g.check(&in, &out, g.groups[:g.bodyGroups], "")
	if reason != "" && g.reporter == nil {
		closeUnread(w, r)
		return g.reject(w, r, reason, arrival)
	}
	body, status := g.readBody(r, reason == "" && g.bodyGroups == len(g.groups))
	switch status {
	case 0:
	case http.StatusRequestEntityTooLarge:
		return g.tooLarge(w, r, arrival)
	default:
		g.answerError(w, r, status, "unreadable_body")
		return nil
	}
	in.Body = body
	if reason == "" {
		scope, reason = g.check(&in, &out, g.groups[g.bodyGroups:], scope)
	}
	if reason != "" {
		if g.reporter != nil {
			return g.reporter.report(w, r, next, body, reason, arrival)
		}
		return g.reject(w, r, reason, arrival)
	}
	body, key := g.prepareForward(r, in.Body, &out, arrival)
	setForwardBody(r, body)
	return g.deliver(w, r, next, arrival, key, scope)
}

// setForwardBody makes body, read once, the body the next handler reads.
func setForwardBody(r *http.Request, body []byte) {
	if body != nil {
		r.Body = newBodyReader(body)
	} else {
		r.Body = http.NoBody
	}
	r.ContentLength = int64(len(body))
	r.TransferEncoding = nil
	// Trailers would make the proxy send the body chunked again, and could
	// carry forged X-Callback-* fields past the header check.
	r.Trailer = nil
}

// tooLarge answers 413 to a body over max_body, which is never read whole.
func (g *Handler) tooLarge(w http.ResponseWriter, r *http.Request, arrival time.Time) error {
	closeUnread(w, r)
	g.answerError(w, r, http.StatusRequestEntityTooLarge, "body_too_large")
	g.done(resultTooLarge, arrival)
	return nil
}

// check runs the groups on the request; the reason is "" when all pass.
// scope, extended with the credential of each group that passed, is what
// dedupe keys are scoped by.
func (g *Handler) check(in *verify.Input, out *verify.Output, groups []verifierGroup, scope string) (string, verify.Reason) {
	if g.needsClientURL && in.Scheme == "" {
		in.Scheme, in.Host = clientURL(in.Request)
	}
	for i := range groups {
		out.Credential = ""
		alt, reason := groups[i].verify(in, out)
		if reason != "" {
			return "", reason
		}
		scope = extendScope(scope, groups[i].credentials[alt])
		scope = extendScope(scope, out.Credential)
	}
	return scope, ""
}

func extendScope(scope, credential string) string {
	switch {
	case credential == "":
		return scope
	case scope == "":
		return credential
	}
	return scope + "." + credential
}

// verify runs the alternatives of one kind until one passes, and returns
// its index. When none does, the reason reported is the most telling one:
// a credential that was present and wrong says more than one that was
// absent.
func (vg *verifierGroup) verify(in *verify.Input, out *verify.Output) (int, verify.Reason) {
	var reason verify.Reason
	for i, v := range vg.alts {
		err := v.Verify(in, out)
		if err == nil {
			return i, ""
		}
		f, ok := err.(*verify.Failure)
		if !ok {
			f = verify.Fail(verify.ReasonInvalidCredentials, err.Error())
		}
		if reason == "" || isMissing(reason) && !isMissing(f.Reason) {
			reason = f.Reason
		}
	}
	return 0, reason
}

func isMissing(r verify.Reason) bool {
	return r == verify.ReasonMissingCredentials || r == verify.ReasonMissingSignature || r == verify.ReasonMissingToken
}

// prepareForward cleans the request (see clean), sets the contract's
// headers, and returns the body to forward and the dedupe key ("" when
// none resolves).
func (g *Handler) prepareForward(r *http.Request, body []byte, out *verify.Output, arrival time.Time) ([]byte, string) {
	g.clean(r)
	h := r.Header
	env := template.Env{
		Set:        g.templates,
		Body:       body,
		FormBody:   g.templates.UsesForm() && isFormBody(r),
		ClaimsJSON: out.ClaimsJSON,
	}
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		env.Placeholder = repl.GetString
	}

	// One backing array for every value, capped per header so that an
	// append elsewhere never writes into a neighbour.
	vals := make([]string, 8)
	set := func(i int, name, v string) {
		vals[i] = v
		h[name] = vals[i : i+1 : i+1]
	}
	set(0, hdrProvider, g.settings.Preset.Name)
	set(1, hdrVerified, g.verified)
	var key string
	for _, t := range g.dedupe {
		if k, ok := t.Resolve(&env); ok {
			key = safeKey(k)
			break
		}
	}
	// Only the methods that are deduplicated carry a key and an attempt.
	if dedupeMethod(r.Method) {
		if key != "" {
			set(2, hdrID, key)
		}
		set(3, hdrAttempt, "1")
	}
	if g.event != nil {
		if ev, ok := g.event.Resolve(&env); ok {
			set(4, hdrEvent, safeValue(ev))
			if oc := g.outcome(&env, ev); oc != "" {
				set(5, hdrOutcome, oc)
			}
		}
	}
	set(6, hdrDeadline, formatDeadline(arrival.Add(g.settings.Deadline)))
	switch g.settings.ForwardClaims {
	case config.ForwardClaimsHeader:
		if out.ClaimsJSON != nil {
			set(7, hdrClaims, base64.RawURLEncoding.EncodeToString(out.ClaimsJSON))
		}
	case config.ForwardClaimsBody:
		if out.ClaimsJSON != nil {
			h["Content-Type"] = []string{"application/json"}
			return out.ClaimsJSON, key
		}
	}
	return body, key
}

// clean removes forged X-Callback-* headers, the Connection tokens that
// would have a proxy drop the guard's headers, and the credentials that
// were checked.
func (g *Handler) clean(r *http.Request) {
	h := r.Header
	stripForged(h)
	cleanConnection(h, g.checkedHeaders)
	if g.stripAuthorization {
		delete(h, "Authorization")
	}
	for _, name := range g.stripHeaders {
		delete(h, name)
	}
	if len(g.stripParams) > 0 && r.URL.RawQuery != "" {
		q := r.URL.RawQuery
		for _, p := range g.stripParams {
			q = verify.RemoveQueryParam(q, p)
		}
		if q != r.URL.RawQuery {
			r.URL.RawQuery = q
			r.URL.ForceQuery = false
			r.RequestURI = r.URL.RequestURI()
		}
	}
}

// outcome maps the event, or the preset's outcome template (Adyen's
// success flag), to X-Callback-Outcome.
func (g *Handler) outcome(env *template.Env, event string) string {
	if g.outcomeFrom != nil {
		v, ok := g.outcomeFrom.Resolve(env)
		if !ok {
			return ""
		}
		event = v
	}
	p := g.settings.Preset
	if oc, ok := p.Outcomes[event]; ok {
		return oc
	}
	return p.OutcomeDefault
}

// formatDeadline writes RFC 3339 UTC with milliseconds.
func formatDeadline(t time.Time) string {
	var buf [32]byte
	return string(t.UTC().AppendFormat(buf[:0], "2006-01-02T15:04:05.000Z07:00"))
}

// isFormBody reports whether the body is a form as PHP reads the
// Content-Type, so that {form.*} reads the fields a backend reads.
func isFormBody(r *http.Request) bool {
	return verify.IsFormMediaType(verify.MediaType(r.Header.Get("Content-Type")))
}

// clientURL returns the scheme and host the client used: from
// X-Forwarded-Proto and X-Forwarded-Host when Caddy trusts the peer as a
// proxy, otherwise from the connection and the Host header.
func clientURL(r *http.Request) (scheme, host string) {
	scheme, host = "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if trusted, _ := caddyhttp.GetVar(r.Context(), caddyhttp.TrustedProxyVarKey).(bool); trusted {
		if p := firstListValue(r.Header.Get("X-Forwarded-Proto")); p != "" {
			scheme = strings.ToLower(p)
		}
		if fh := firstListValue(r.Header.Get("X-Forwarded-Host")); fh != "" {
			host = fh
		}
	}
	return scheme, host
}

func firstListValue(v string) string {
	if i := strings.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}

// reject answers 401 with the reason class, logs it, without any secret,
// and counts it.
func (g *Handler) reject(w http.ResponseWriter, r *http.Request, reason verify.Reason, arrival time.Time) error {
	g.logFailure("callback rejected", r, reason)
	g.answerError(w, r, http.StatusUnauthorized, string(reason))
	g.metrics.failed(reason)
	g.done(resultRejected, arrival)
	return nil
}

// logFailure logs a failed verification at info level: its reason class and
// who sent it, never a credential.
func (g *Handler) logFailure(msg string, r *http.Request, reason verify.Reason) {
	if ce := g.logger.Check(zapcore.InfoLevel, msg); ce != nil {
		ce.Write(
			zap.String("preset", g.settings.Preset.Name),
			zap.String("reason", string(reason)),
			zap.String("client_ip", clientIP(r)),
			zap.String("request_id", requestID(r)),
		)
	}
}

// answerError writes {"error": "<class>"} with the status.
func (g *Handler) answerError(w http.ResponseWriter, _ *http.Request, status int, class string) {
	body := `{"error":"` + class + `"}`
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store")
	if status == http.StatusUnauthorized && g.stripAuthorization && len(g.groups) > 0 && g.groups[0].kind == "basic_auth" {
		hdr.Set("WWW-Authenticate", `Basic realm="callback"`)
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func clientIP(r *http.Request) string {
	ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	return ip
}

func requestID(r *http.Request) string {
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		id, _ := repl.GetString("http.request.uuid")
		return id
	}
	return ""
}
