package caddymodule

import (
	"bytes"
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
	body, status := g.readBody(r)
	if status != 0 {
		g.answerError(w, r, status, errorClassOf(status))
		if status == http.StatusRequestEntityTooLarge {
			g.done(resultTooLarge, arrival)
		}
		return nil
	}
	var out verify.Output
	if reason := g.check(r, body, arrival, &out); reason != "" {
		if g.reporter != nil {
			return g.reporter.report(w, r, next, body, reason, arrival)
		}
		g.reject(w, r, reason)
		g.metrics.failed(reason)
		g.done(resultRejected, arrival)
		return nil
	}
	body, key := g.prepareForward(r, body, &out, arrival)
	setForwardBody(r, body)
	return g.deliver(w, r, next, arrival, key)
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

// bodyReader hands the body, read once, to the next handler: one
// allocation where bytes.NewReader and io.NopCloser make two.
type bodyReader struct{ bytes.Reader }

func newBodyReader(b []byte) *bodyReader {
	br := new(bodyReader)
	br.Reset(b)
	return br
}

// Close is a no-op: the bytes stay valid for whoever still reads them.
func (*bodyReader) Close() error { return nil }

// check runs every kind of authentication; the reason is "" when all pass.
func (g *Handler) check(r *http.Request, body []byte, now time.Time, out *verify.Output) verify.Reason {
	in := verify.Input{Request: r, Body: body, Now: now}
	if g.needsClientURL {
		in.Scheme, in.Host = clientURL(r)
	}
	for i := range g.groups {
		if reason := g.groups[i].verify(&in, out); reason != "" {
			return reason
		}
	}
	return ""
}

// verify runs the alternatives of one kind until one passes. When none
// does, the reason reported is the most telling one: a credential that was
// present and wrong says more than one that was absent.
func (vg *verifierGroup) verify(in *verify.Input, out *verify.Output) verify.Reason {
	var reason verify.Reason
	for _, v := range vg.alts {
		err := v.Verify(in, out)
		if err == nil {
			return ""
		}
		f, ok := err.(*verify.Failure)
		if !ok {
			f = verify.Fail(verify.ReasonInvalidCredentials, err.Error())
		}
		if reason == "" || isMissing(reason) && !isMissing(f.Reason) {
			reason = f.Reason
		}
	}
	return reason
}

func isMissing(r verify.Reason) bool {
	return r == verify.ReasonMissingCredentials || r == verify.ReasonMissingSignature || r == verify.ReasonMissingToken
}

// preallocMax is the largest declared body read into a buffer allocated
// up front; callbacks are small, a few KiB.
const preallocMax = 64 << 10

// readBody reads the whole body once, up to max_body. A non-zero status
// (413, 400) is the answer when it cannot.
func (g *Handler) readBody(r *http.Request) ([]byte, int) {
	limit := g.settings.MaxBody
	if r.ContentLength > limit {
		return nil, http.StatusRequestEntityTooLarge
	}
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil, 0
	}
	if r.ContentLength > 0 && r.ContentLength <= preallocMax {
		buf := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			return nil, http.StatusBadRequest
		}
		return buf, 0
	}
	// A large declared length is not trusted with memory up front: an
	// unauthenticated client could declare max_body and send slowly. The
	// buffer grows as bytes arrive.
	var b bytes.Buffer
	n, err := b.ReadFrom(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, http.StatusBadRequest
	}
	if n > limit {
		return nil, http.StatusRequestEntityTooLarge
	}
	if n == 0 {
		return nil, 0
	}
	return b.Bytes(), 0
}

// prepareForward removes forged X-Callback-* headers and the credentials
// that were checked, sets the contract's headers, and returns the body to
// forward and the dedupe key ("" when none resolves).
func (g *Handler) prepareForward(r *http.Request, body []byte, out *verify.Output, arrival time.Time) ([]byte, string) {
	h := r.Header
	for name := range h {
		if len(name) >= len(hdrPrefix) && strings.EqualFold(name[:len(hdrPrefix)], hdrPrefix) {
			delete(h, name)
		}
	}
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
			key = k
			set(2, hdrID, key)
			break
		}
	}
	set(3, hdrAttempt, "1")
	if g.event != nil {
		if ev, ok := g.event.Resolve(&env); ok {
			set(4, hdrEvent, ev)
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

// reject answers 401 with the reason class and logs it, without any secret.
func (g *Handler) reject(w http.ResponseWriter, r *http.Request, reason verify.Reason) {
	if ce := g.logger.Check(zapcore.InfoLevel, "callback rejected"); ce != nil {
		ce.Write(
			zap.String("preset", g.settings.Preset.Name),
			zap.String("reason", string(reason)),
			zap.String("client_ip", clientIP(r)),
			zap.String("request_id", requestID(r)),
		)
	}
	g.answerError(w, r, http.StatusUnauthorized, string(reason))
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

func errorClassOf(status int) string {
	switch status {
	case http.StatusRequestEntityTooLarge:
		return "body_too_large"
	default:
		return "unreadable_body"
	}
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
