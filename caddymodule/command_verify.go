package caddymodule

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/spf13/cobra"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
)

const verifyLong = `
Verifies a captured callback offline, with the callback_guard that a config
puts on a route, exactly as the running guard would (same code, same
provisioning): it prints "accepted" and the X-Callback-* headers the backend
would receive, or "rejected" with the reason the provider would read in the
401 body, and a hint.

The capture is a raw HTTP/1.1 request (request line, headers, blank line,
body), from a file or stdin ('-' or nothing): what 'caddy callback sign
--format http' prints, or what 'nc -l 9000 > capture.http' records when the
provider is pointed at it. The body is taken by its Content-Length; when a
hand edit changed the body's length, it is all that follows the headers
(less one final line end), with a warning. Chunked bodies are decoded.
--url <signed URL> checks a GET of that URL instead of a capture.

The guard is found as Caddy routes the request: the servers' routes and
subroutes (handle, route, matchers of the directive) are walked with Caddy's
own matchers against the capture, with --route as its path (default: the
capture's path) and its Host header (--host overrides). remote_ip and
client_ip matchers are assumed to match; rewrites (handle_path, uri) are not
followed. No guard, or more than one, is a configuration error (exit 2).

Secrets and key files are read as 'caddy run' reads them: {env.*} from this
shell's environment, relative key paths from the current directory.

The scheme that a signed_url signature covers is --scheme, else the scheme
of an absolute request target, else https when the server listens on :443 or
has TLS connection policies, else http. --trusted-proxy treats the capture
as coming from one of Caddy's trusted_proxies, so X-Forwarded-Proto and
X-Forwarded-Host count.

--at checks the capture as of another time than now, e.g. a captured token
as of when it arrived: RFC 3339 (2021-11-15T12:57:00Z) or Unix seconds or
milliseconds (a PayGlocal iat such as 1636980973327).

Example:

  caddy callback sign glopal --format http --to http://localhost:8080/glopal/callback \
      --basic-auth glopal:demo-glopal-password > capture.http
  caddy callback verify --config Caddyfile.example capture.http

` + exitCodesHelp

type verifyFlags struct {
	config       string
	adapter      string
	route        string
	at           string
	scheme       string
	host         string
	url          string
	trustedProxy bool
	showClaims   bool
}

func newVerifyCommand() *cobra.Command {
	var f verifyFlags
	cmd := &cobra.Command{
		Use:   "verify --config <Caddyfile> [--route <path>] [--at <time>] [<capture>|-]",
		Short: "Verifies a captured request offline with the guard a Caddyfile puts on a route",
		Long:  strings.TrimSpace(verifyLong),
		Args:  cobra.ArbitraryArgs,
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.config, "config", "c", "", "the Caddyfile (or JSON config) `file` with the guard (required)")
	fl.StringVarP(&f.adapter, "adapter", "a", "", "the config adapter's `name` (default caddyfile; json for a .json file)")
	fl.StringVar(&f.route, "route", "", "the request `path` that selects the guard (default: the capture's path)")
	fl.StringVar(&f.at, "at", "", "verify as of this `time` (RFC 3339, or Unix seconds or ms) instead of now")
	fl.StringVar(&f.scheme, "scheme", "", "the `scheme` the client used: http or https (see above)")
	fl.StringVar(&f.host, "host", "", "the `host` the client used, instead of the capture's Host header")
	fl.StringVar(&f.url, "url", "", "verify a GET of this absolute `URL` (e.g. a signed Glopal success URL) instead of a capture")
	fl.BoolVar(&f.trustedProxy, "trusted-proxy", false, "the capture came through one of Caddy's trusted_proxies: honour X-Forwarded-Proto/Host")
	fl.BoolVar(&f.showClaims, "show-claims", false, "print the verified JWT claims (they may hold tokens, e.g. PayGlocal's statusUrl)")
	cmd.RunE = withExitCode(func(cmd *cobra.Command, args []string) (int, error) {
		return runVerify(cmd, &f, args)
	})
	return cmd
}

func runVerify(cmd *cobra.Command, f *verifyFlags, args []string) (int, error) {
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if f.config == "" {
		return exitUsage, errors.New("missing --config <Caddyfile>: the config whose guard verifies the capture")
	}
	if len(args) > 1 {
		return exitUsage, fmt.Errorf("want one capture file, got %d arguments", len(args))
	}
	if f.scheme != "" && f.scheme != "http" && f.scheme != "https" {
		return exitUsage, fmt.Errorf("--scheme %q: want http or https", f.scheme)
	}
	now := time.Now()
	if f.at != "" {
		t, err := parseAt(f.at)
		if err != nil {
			return exitUsage, fmt.Errorf("--at: %v", err)
		}
		now = t
	}

	// The capture.
	var data []byte
	var err error
	switch {
	case f.url != "":
		if len(args) > 0 {
			return exitUsage, errors.New("give --url or a capture, not both")
		}
		data, err = captureOfURL(f.url)
	case len(args) == 0 || args[0] == "-":
		in := cmd.InOrStdin()
		if len(args) == 0 && isTerminalReader(in) {
			return exitUsage, errors.New("no capture: give a file with the raw HTTP request, '-' for stdin, or --url")
		}
		data, err = io.ReadAll(in)
	default:
		data, err = os.ReadFile(args[0])
	}
	if err != nil {
		return exitUsage, fmt.Errorf("reading the capture: %v", err)
	}
	capt, err := parseCapture(data)
	if err != nil {
		return exitUsage, err
	}
	for _, w := range capt.warnings {
		fmt.Fprintln(errOut, "warning:", w)
	}
	r := capt.req
	if f.host != "" {
		r.Host = f.host
	}
	routePath, _, _ := strings.Cut(f.route, "?")
	if routePath == "" {
		routePath = r.URL.Path
	}
	if !strings.HasPrefix(routePath, "/") {
		return exitUsage, fmt.Errorf("--route %q: want a path starting with /", routePath)
	}

	// The config, adapted as caddy run would.
	cfgJSON, err := loadConfigJSON(f.config, f.adapter, errOut)
	if err != nil {
		return exitUsage, err
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	found, err := findGuard(ctx, cfgJSON, r, routePath)
	if err != nil {
		return exitUsage, err
	}
	for _, a := range found.assumed {
		fmt.Fprintln(errOut, "note: assumed to match (not evaluated offline):", a)
	}
	g, err := loadGuard(ctx, found.raw)
	if err != nil {
		return exitUsage, fmt.Errorf("the guard of %s does not load: %v", found.where(), err)
	}

	// The request as the guard would see it.
	scheme := f.scheme
	if scheme == "" {
		scheme = capt.scheme
	}
	if scheme == "" && found.tls {
		scheme = "https"
	}
	if scheme == "https" {
		r.TLS = &tls.ConnectionState{HandshakeComplete: true, ServerName: hostOnly(r.Host)}
	}
	vars := map[string]any{caddyhttp.TrustedProxyVarKey: f.trustedProxy}
	*r = *r.WithContext(context.WithValue(context.Background(), caddyhttp.VarsCtxKey, vars))
	caddyhttp.NewTestReplacer(r)

	preset := g.settings.Preset.Name
	fmt.Fprintf(out, "guard: callback_guard %s at %s (checks %s)\n", preset, found.where(), g.verified)
	fmt.Fprintf(out, "request: %s %s (Host %s, %s), %d-byte body, as of %s\n",
		r.Method, r.RequestURI, r.Host, schemeOf(r), len(capt.body), now.UTC().Format(time.RFC3339))

	if int64(len(capt.body)) > g.settings.MaxBody {
		fmt.Fprintf(out, "rejected: body_too_large: the body is %d bytes, max_body is %d\n", len(capt.body), g.settings.MaxBody)
		fmt.Fprintln(out, `the provider would get: 413 {"error":"body_too_large"}`)
		return exitFailed, nil
	}
	verified, reason, claims := g.Verify(r, capt.body, now)
	if reason != "" {
		fmt.Fprintf(out, "rejected: %s\n", reason)
		if h := verifyHint(reason, g, r, found.tls); h != "" {
			fmt.Fprintf(out, "hint: %s\n", h)
		}
		fmt.Fprintf(out, "the provider would get: 401 {\"error\":%q}\n", string(reason))
		return exitFailed, nil
	}
	fmt.Fprintf(out, "accepted: verified by %s\n", verified)
	printForward(out, g, r, capt.body, claims, now, f.showClaims)
	return exitOK, nil
}

// printForward shows the X-Callback-* headers the backend would receive.
func printForward(out io.Writer, g *Handler, r *http.Request, body, claims []byte, now time.Time, showClaims bool) {
	vo := verify.Output{ClaimsJSON: claims}
	var claimMap map[string]any
	if claims != nil {
		dec := json.NewDecoder(bytes.NewReader(claims))
		dec.UseNumber()
		if dec.Decode(&claimMap) != nil {
			claimMap = nil
		}
	}
	fwdBody, key := g.prepareForward(r, body, &vo, now)
	fmt.Fprintln(out, "the backend would receive:")
	for _, name := range []string{hdrProvider, hdrVerified, hdrID, hdrAttempt, hdrEvent, hdrOutcome, hdrDeadline, hdrClaims} {
		if v := r.Header.Get(name); v != "" {
			fmt.Fprintf(out, "  %s: %s\n", name, v)
		}
	}
	switch {
	case key == "":
		fmt.Fprintln(out, "  (no dedupe key: every delivery is forwarded)")
	case !dedupeMethod(r.Method):
		fmt.Fprintf(out, "  (%s is never deduplicated)\n", r.Method)
	}
	if !bytes.Equal(fwdBody, body) {
		fmt.Fprintf(out, "  body: %s\n", fwdBody)
	}
	switch {
	case claims != nil && showClaims:
		fmt.Fprintf(out, "verified claims: %s\n", claims)
	case claimMap != nil:
		names := make([]string, 0, len(claimMap))
		for k := range claimMap {
			names = append(names, k)
		}
		sort.Strings(names)
		fmt.Fprintf(out, "verified claims: %s (--show-claims prints their values)\n", strings.Join(names, ", "))
	}
}

func schemeOf(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

func hostOnly(hostport string) string {
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 && !strings.Contains(hostport[i:], "]") {
		return hostport[:i]
	}
	return hostport
}

// verifyHint says what to look at for a reason.
func verifyHint(reason verify.Reason, g *Handler, r *http.Request, tlsServer bool) string {
	kinds := g.verified
	switch reason {
	case verify.ReasonMissingCredentials:
		return "the request carries none of the credentials the guard checks (" + kinds + "): basic_auth wants Authorization: Basic, query_secret its parameter, header_secret its header"
	case verify.ReasonInvalidCredentials:
		return "a credential is present but matches none configured (" + kinds + "); {env.*} secrets are read from this shell's environment"
	case verify.ReasonMissingSignature:
		return "the URL has no signature parameter, or an empty one"
	case verify.ReasonInvalidSignature:
		if strings.Contains(kinds, "signed_url") {
			scheme, host := clientURL(r)
			h := fmt.Sprintf("the signature does not match the URL as the guard sees it, %s://%s%s, less its signature parameter: check the secret, and that the scheme and host are those the provider signed (--scheme, --host, --trusted-proxy)", scheme, host, r.RequestURI)
			if strings.Contains(kinds, "jwt") {
				h += "; or the token's signature does not verify with the configured key"
			}
			return h
		}
		return "the token's signature does not verify with the configured key: the token was changed, or signed with another key"
	case verify.ReasonMissingToken:
		return "no token where the guard looks for it (payglocal: the form field, JSON field or header x-gl-token; otherwise Authorization: Bearer, or the jwt block's from lines)"
	case verify.ReasonMalformedToken:
		return "the token is not a well-formed JWS (three base64url parts with JSON header and claims), or appears twice"
	case verify.ReasonAlgNotAllowed:
		return "the token's alg is outside the allow-list (algs) or does not fit the key"
	case verify.ReasonUnknownKey:
		return "the token's kid names none of the configured keys (jwt { key <kid> <file> })"
	case verify.ReasonTokenExpired:
		return "the token's lifetime has passed as of the check time: to check it as of when it arrived, give --at <time> (for PayGlocal, its iat in ms works)"
	case verify.ReasonTokenNotYetValid, verify.ReasonTokenIssuedInFuture:
		return "the token is dated after the check time: check the clocks, or give --at"
	case verify.ReasonTokenTooOld:
		return "max_age is set and the token's iat is older than that (or absent); --at checks it as of another time"
	case verify.ReasonInvalidClaims:
		return "a time claim (exp, nbf, iat) has the wrong type"
	}
	return ""
}

// parseAt reads RFC 3339, or Unix seconds, or milliseconds above 10^12.
func parseAt(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		if n > 1e12 {
			return time.UnixMilli(n), nil
		}
		return time.Unix(n, 0), nil
	}
	return parseTime(s)
}

func isTerminalReader(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// capture is a parsed raw HTTP request.
type capture struct {
	req      *http.Request
	body     []byte
	scheme   string // of an absolute request target, else ""
	warnings []string
}

func captureOfURL(raw string) ([]byte, error) {
	raw = strings.TrimSpace(raw)
	i := strings.Index(raw, "://")
	if i < 0 || (raw[:i] != "http" && raw[:i] != "https") {
		return nil, usagef("--url %q: want an absolute http:// or https:// URL", raw)
	}
	if j := strings.IndexByte(raw, '#'); j >= 0 {
		raw = raw[:j]
	}
	// An absolute request target carries the scheme and host.
	host := raw[i+3:]
	if j := strings.IndexAny(host, "/?"); j >= 0 {
		host = host[:j]
	}
	return []byte("GET " + raw + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n"), nil
}

// parseCapture reads a raw HTTP/1.x request. It is lenient with hand
// edits: LF line ends, leading blank lines, a Content-Length that no longer
// fits the body.
func parseCapture(data []byte) (*capture, error) {
	data = bytes.TrimLeft(data, "\r\n\t ")
	if len(data) == 0 {
		return nil, usagef("the capture is empty")
	}
	br := bufio.NewReader(bytes.NewReader(data))
	r, err := http.ReadRequest(br)
	if err != nil {
		return nil, usagef("the capture is not a raw HTTP request (request line, headers, blank line, body): %v", err)
	}
	c := &capture{req: r}
	if len(r.TransferEncoding) > 0 {
		c.body, err = io.ReadAll(r.Body)
		if err != nil {
			return nil, usagef("the capture's chunked body is malformed: %v", err)
		}
	} else {
		rest, _ := io.ReadAll(br)
		cl := r.ContentLength
		hasCL := r.Header.Get("Content-Length") != "" || cl > 0
		switch {
		case !hasCL:
			if len(bytes.TrimSpace(rest)) > 0 {
				c.body = rest
				c.warnings = append(c.warnings, fmt.Sprintf("no Content-Length: the body is all %d bytes after the headers", len(rest)))
			}
		case int64(len(rest)) == cl:
			c.body = rest
		case int64(len(rest)) > cl:
			c.body = rest[:cl]
			if extra := rest[cl:]; len(bytes.TrimSpace(extra)) > 0 {
				// Not just the newline an editor adds: the body was
				// edited. Take all of it, less one final line end.
				c.body = bytes.TrimSuffix(bytes.TrimSuffix(rest, []byte("\n")), []byte("\r"))
				c.warnings = append(c.warnings, fmt.Sprintf("the capture's Content-Length is %d but %d bytes follow the headers: verifying those %d (was the body edited?)", cl, len(rest), len(c.body)))
			}
		default:
			c.body = rest
			c.warnings = append(c.warnings, fmt.Sprintf("the capture's Content-Length is %d but only %d bytes follow the headers: verifying those (was the body edited?)", cl, len(rest)))
		}
	}
	if len(c.body) == 0 {
		c.body = nil
	}
	r.Body = io.NopCloser(bytes.NewReader(c.body))
	r.ContentLength = int64(len(c.body))
	r.TransferEncoding = nil
	if r.URL.IsAbs() {
		// Absolute-form target: the path and query as written.
		c.scheme = strings.ToLower(r.URL.Scheme)
		if r.Host == "" {
			r.Host = r.URL.Host
		}
		target := r.RequestURI[len(r.URL.Scheme)+len("://"):]
		if j := strings.IndexAny(target, "/?"); j >= 0 {
			target = target[j:]
		} else {
			target = "/"
		}
		if target[0] == '?' {
			target = "/" + target
		}
		r.RequestURI = target
		r.URL.Scheme, r.URL.Host = "", ""
	}
	if r.Host == "" {
		c.warnings = append(c.warnings, "the capture has no Host header: give --host for signed URLs and host matchers")
	}
	return c, nil
}

// loadConfigJSON reads and adapts the config file.
func loadConfigJSON(file, adapter string, errOut io.Writer) ([]byte, error) {
	body, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading --config: %v", err)
	}
	if adapter == "" {
		adapter = "caddyfile"
		if strings.EqualFold(filepath.Ext(file), ".json") {
			adapter = "json"
		}
	}
	if adapter == "json" {
		if !json.Valid(body) {
			return nil, fmt.Errorf("%s is not valid JSON", file)
		}
		return body, nil
	}
	a := caddyconfig.GetAdapter(adapter)
	if a == nil {
		return nil, fmt.Errorf("unknown config adapter %q", adapter)
	}
	out, warnings, err := a.Adapt(body, map[string]any{"filename": file})
	if err != nil {
		return nil, fmt.Errorf("adapting %s: %v", file, err)
	}
	for _, w := range warnings {
		if strings.Contains(w.Message, "not formatted") {
			continue
		}
		fmt.Fprintf(errOut, "warning: %s\n", w.String())
	}
	return out, nil
}

// guardFound is the callback_guard that a request reaches.
type guardFound struct {
	server  string
	listen  []string
	trail   []string
	raw     json.RawMessage
	assumed []string
	tls     bool
}

func (g *guardFound) where() string {
	w := "server " + g.server
	if len(g.listen) > 0 {
		w += " (" + strings.Join(g.listen, " ") + ")"
	}
	if len(g.trail) > 0 {
		w += ", " + strings.Join(g.trail, " > ")
	}
	return w
}

type rawServer struct {
	Listen      []string        `json:"listen"`
	Routes      []rawRoute      `json:"routes"`
	TLSPolicies json.RawMessage `json:"tls_connection_policies"`
}

type rawRoute struct {
	Group    string                       `json:"group"`
	Match    []map[string]json.RawMessage `json:"match"`
	Handle   []json.RawMessage            `json:"handle"`
	Terminal bool                         `json:"terminal"`
}

type rawHandler struct {
	Handler string     `json:"handler"`
	Routes  []rawRoute `json:"routes"`
}

// routeWalker finds the guards a request reaches, following Caddy's route
// semantics: every matching route runs, in order; only the first matching
// route of a group; nothing after a matching terminal route.
type routeWalker struct {
	ctx        caddy.Context
	req        *http.Request
	ignoreHost bool
	found      []guardFound
	all        []string // every guard in the config, for messages
}

func findGuard(ctx caddy.Context, cfgJSON []byte, capture *http.Request, routePath string) (*guardFound, error) {
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]rawServer `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		return nil, fmt.Errorf("reading the adapted config: %v", err)
	}
	servers := cfg.Apps.HTTP.Servers
	names := make([]string, 0, len(servers))
	for n := range servers {
		names = append(names, n)
	}
	sort.Strings(names)

	// The request the matchers see: the capture, at routePath.
	req := capture.Clone(context.Background())
	req.URL.Path, req.URL.RawPath = routePath, ""
	req = req.WithContext(context.WithValue(context.Background(), caddyhttp.VarsCtxKey, map[string]any{}))
	caddyhttp.NewTestReplacer(req)

	run := func(ignoreHost bool) *routeWalker {
		w := &routeWalker{ctx: ctx, req: req, ignoreHost: ignoreHost}
		for _, n := range names {
			s := servers[n]
			base := guardFound{server: n, listen: s.Listen, tls: len(s.TLSPolicies) > 0 && string(s.TLSPolicies) != "null"}
			for _, l := range s.Listen {
				if strings.HasSuffix(l, ":443") {
					base.tls = true
				}
			}
			w.walk(s.Routes, base, true)
		}
		return w
	}
	w := run(false)
	switch len(w.found) {
	case 1:
		return &w.found[0], nil
	case 0:
		if len(w.all) == 0 {
			return nil, errors.New("the config has no callback_guard")
		}
		if wh := run(true); len(wh.found) > 0 {
			return nil, fmt.Errorf("no callback_guard handles %s on host %q, but one does on another host (%s): give --host", routePath, capture.Host, wh.found[0].where())
		}
		return nil, fmt.Errorf("no callback_guard handles %s; the config's guards are at:\n  %s", routePath, strings.Join(w.all, "\n  "))
	default:
		var where []string
		for i := range w.found {
			where = append(where, w.found[i].where())
		}
		return nil, fmt.Errorf("%d callback_guards handle %s, one after the other:\n  %s\ngive --route a path that only one of them handles", len(w.found), routePath, strings.Join(where, "\n  "))
	}
}

func (w *routeWalker) walk(routes []rawRoute, at guardFound, reachable bool) {
	groups := map[string]bool{}
	for _, rt := range routes {
		matched, desc, assumed := w.match(rt.Match)
		if rt.Group != "" && groups[rt.Group] {
			matched = false
		}
		runs := reachable && matched
		if runs && rt.Group != "" {
			groups[rt.Group] = true
		}
		next := at
		next.trail = append(append([]string(nil), at.trail...), desc...)
		next.assumed = append(append([]string(nil), at.assumed...), assumed...)
		for _, h := range rt.Handle {
			var rh rawHandler
			if json.Unmarshal(h, &rh) != nil {
				continue
			}
			switch rh.Handler {
			case "callback_guard":
				g := next
				g.raw = h
				w.all = append(w.all, g.where())
				if runs {
					w.found = append(w.found, g)
				}
			case "subroute":
				w.walk(rh.Routes, next, runs)
			}
		}
		if runs && rt.Terminal {
			reachable = false
		}
	}
}

// match evaluates a route's matcher sets (any set; every matcher of a set)
// with Caddy's own matchers. It returns a description of the sets for the
// trail, and the matchers it could not evaluate and assumed to match.
func (w *routeWalker) match(sets []map[string]json.RawMessage) (bool, []string, []string) {
	if len(sets) == 0 {
		return true, nil, nil
	}
	var descs, assumedAll []string
	anyMatch := false
	for _, set := range sets {
		names := make([]string, 0, len(set))
		for n := range set {
			names = append(names, n)
		}
		sort.Strings(names)
		all := true
		var parts, assumed []string
		for _, n := range names {
			raw := set[n]
			parts = append(parts, n+" "+describeMatcher(raw))
			ok, note := w.evalMatcher(n, raw)
			if note != "" {
				assumed = append(assumed, note)
			}
			if !ok {
				all = false
			}
		}
		descs = append(descs, strings.Join(parts, " "))
		if all {
			anyMatch = true
			assumedAll = append(assumedAll, assumed...)
		}
	}
	return anyMatch, []string{strings.Join(descs, " | ")}, assumedAll
}

func (w *routeWalker) evalMatcher(name string, raw json.RawMessage) (bool, string) {
	switch name {
	case "remote_ip", "client_ip":
		return true, name + " " + describeMatcher(raw)
	case "host":
		if w.ignoreHost || w.req.Host == "" {
			return true, ""
		}
	}
	mod, err := w.ctx.LoadModuleByID("http.matchers."+name, raw)
	if err != nil {
		return true, name + " " + describeMatcher(raw) + " (" + err.Error() + ")"
	}
	switch m := mod.(type) {
	case caddyhttp.RequestMatcherWithError:
		ok, err := m.MatchWithError(w.req)
		if err != nil {
			return true, name + " " + describeMatcher(raw) + " (" + err.Error() + ")"
		}
		return ok, ""
	case caddyhttp.RequestMatcher: //nolint:staticcheck // older matchers
		return m.Match(w.req), ""
	}
	return true, name + " " + describeMatcher(raw)
}

func describeMatcher(raw json.RawMessage) string {
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return strings.Join(list, " ")
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) == nil {
		return b.String()
	}
	return string(raw)
}

// loadGuard provisions the guard as Caddy would: strict decoding, Provision,
// Validate; the context's cancel cleans it up.
func loadGuard(ctx caddy.Context, raw json.RawMessage) (*Handler, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	delete(m, "handler")
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	mod, err := ctx.LoadModuleByID("http.handlers.callback_guard", b)
	if err != nil {
		return nil, err
	}
	g, ok := mod.(*Handler)
	if !ok {
		return nil, fmt.Errorf("unexpected module type %T", mod)
	}
	return g, nil
}
