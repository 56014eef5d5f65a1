package cli

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/spf13/cobra"
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
	now, err := f.check(args)
	if err != nil {
		return exitUsage, err
	}
	capt, err := f.readCapture(cmd.InOrStdin(), args)
	if err != nil {
		return exitUsage, err
	}
	for _, w := range capt.warnings {
		fmt.Fprintln(errOut, "warning:", w)
	}
	r := capt.req
	routePath, _, _ := strings.Cut(f.route, "?")
	if routePath == "" {
		routePath = r.URL.Path
	}
	if !strings.HasPrefix(routePath, "/") {
		return exitUsage, fmt.Errorf("--route %q: want a path starting with /", routePath)
	}

	// The config, adapted as caddy run would, and the guard on the route.
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

	f.asServed(r, capt.scheme, found.tls)
	request := fmt.Sprintf("request: %s %s (Host %s, %s), %d-byte body, as of %s",
		r.Method, r.RequestURI, r.Host, schemeOf(r), len(capt.body), now.UTC().Format(time.RFC3339))
	v := g.CheckOffline(r, capt.body, now)
	fmt.Fprintf(out, "guard: callback_guard %s at %s (checks %s)\n", v.Preset, found.where(), v.Checks)
	fmt.Fprintln(out, request)
	return printVerdict(out, &v, r.Method, capt.body, f.showClaims), nil
}

// check checks the flags and returns the time to verify as of.
func (f *verifyFlags) check(args []string) (time.Time, error) {
	if f.config == "" {
		return time.Time{}, errors.New("missing --config <Caddyfile>: the config whose guard verifies the capture")
	}
	if len(args) > 1 {
		return time.Time{}, fmt.Errorf("want one capture file, got %d arguments", len(args))
	}
	if f.url != "" && len(args) > 0 {
		return time.Time{}, errors.New("give --url or a capture, not both")
	}
	if f.scheme != "" && f.scheme != "http" && f.scheme != "https" {
		return time.Time{}, fmt.Errorf("--scheme %q: want http or https", f.scheme)
	}
	if f.at == "" {
		return time.Now(), nil
	}
	t, err := parseAt(f.at)
	if err != nil {
		return time.Time{}, fmt.Errorf("--at: %v", err)
	}
	return t, nil
}

// readCapture reads the capture: --url, a file, or stdin.
func (f *verifyFlags) readCapture(stdin io.Reader, args []string) (*capture, error) {
	var data []byte
	var err error
	switch {
	case f.url != "":
		data, err = captureOfURL(f.url)
	case len(args) == 0 || args[0] == "-":
		if len(args) == 0 && isTerminal(stdin) {
			return nil, errors.New("no capture: give a file with the raw HTTP request, '-' for stdin, or --url")
		}
		data, err = io.ReadAll(stdin)
	default:
		data, err = os.ReadFile(args[0])
	}
	if err != nil {
		return nil, fmt.Errorf("reading the capture: %v", err)
	}
	c, err := parseCapture(data)
	if err != nil {
		return nil, err
	}
	if f.host != "" {
		c.req.Host = f.host
	}
	return c, nil
}

// asServed makes r the request as the guard would see it behind the
// server: its scheme, and whether Caddy trusts the peer as a proxy.
func (f *verifyFlags) asServed(r *http.Request, captureScheme string, tlsServer bool) {
	scheme := cmp.Or(f.scheme, captureScheme)
	if scheme == "" && tlsServer {
		scheme = "https"
	}
	if scheme == "https" {
		r.TLS = &tls.ConnectionState{HandshakeComplete: true, ServerName: hostOnly(r.Host)}
	}
	vars := map[string]any{caddyhttp.TrustedProxyVarKey: f.trustedProxy}
	*r = *r.WithContext(context.WithValue(context.Background(), caddyhttp.VarsCtxKey, vars))
	caddyhttp.NewTestReplacer(r)
}

// printVerdict prints the guard's answer to a request of that method and
// body, and returns the exit code.
func printVerdict(out io.Writer, v *Verdict, method string, body []byte, showClaims bool) int {
	switch {
	case v.TooLarge:
		fmt.Fprintf(out, "rejected: body_too_large: the body is %d bytes, max_body is %d\n", len(body), v.MaxBody)
		fmt.Fprintln(out, `the provider would get: 413 {"error":"body_too_large"}`)
		return exitFailed
	case v.Reason != "":
		fmt.Fprintf(out, "rejected: %s\n", v.Reason)
		if h := hint(v); h != "" {
			fmt.Fprintf(out, "hint: %s\n", h)
		}
		fmt.Fprintf(out, "the provider would get: 401 {\"error\":%q}\n", string(v.Reason))
		return exitFailed
	}
	fmt.Fprintf(out, "accepted: verified by %s\n", v.Checks)
	printForward(out, v, method, body, showClaims)
	return exitOK
}

// printForward shows what the backend would receive.
func printForward(out io.Writer, v *Verdict, method string, body []byte, showClaims bool) {
	fmt.Fprintln(out, "the backend would receive:")
	for _, h := range v.Headers {
		fmt.Fprintf(out, "  %s: %s\n", h[0], h[1])
	}
	switch {
	case v.DedupeKey == "":
		fmt.Fprintln(out, "  (no dedupe key: every delivery is forwarded)")
	case !v.Deduplicated:
		fmt.Fprintf(out, "  (%s is never deduplicated)\n", method)
	}
	if !bytes.Equal(v.Body, body) {
		fmt.Fprintf(out, "  body: %s\n", v.Body)
	}
	if v.Claims == nil {
		return
	}
	if showClaims {
		fmt.Fprintf(out, "verified claims: %s\n", v.Claims)
		return
	}
	var claims map[string]json.RawMessage
	if json.Unmarshal(v.Claims, &claims) != nil {
		return
	}
	names := make([]string, 0, len(claims))
	for k := range claims {
		names = append(names, k)
	}
	sort.Strings(names)
	fmt.Fprintf(out, "verified claims: %s (--show-claims prints their values)\n", strings.Join(names, ", "))
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
