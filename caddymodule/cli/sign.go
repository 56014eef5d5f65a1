package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/spf13/cobra"

	"github.com/callbackguard/callbackguard/config"
)

// signLong is the sign command's help; each preset's sample is described
// by the preset itself (config.Sample.Help).
func signLong() string {
	var presets strings.Builder
	for _, name := range config.PresetNames {
		p, _ := config.LookupPreset(name)
		lines := strings.Split(p.Sample.Help, "\n")
		fmt.Fprintf(&presets, "  %-10s %s\n", name, lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(&presets, "  %-10s %s\n", "", l)
		}
	}
	return `
Builds a correctly authenticated test delivery for a preset and prints it as
a curl command (default) or as raw HTTP (--format http, which 'caddy
callback verify' reads back).

The credentials mirror the directive's lines; give those of the guard you
test (a delivery with none is built too, and the guard answers it 401):

  --basic-auth <user>:<password>       basic_auth <user> <password>
  --query-secret <param>=<secret>      query_secret <param> <secret>
  --header-secret '<Header>: <value>'  header_secret <Header> <value>
  --signed-url <param>=<secret>        signed_url <param> <secret>
  --jwt-key <private-key.pem>          jwt { key <kid> <public-key.pem> }
  --jwt-secret <secret>                jwt { secret <secret> }
  --secret <secret>                    hmac <secret> (the body is signed as the
                                       preset's provider signs it)

With --secret, --timestamp <time> sets the signed time (RFC 3339 or Unix
seconds; default --time, else now): one older than the guard's tolerance is
answered timestamp_out_of_tolerance. Square signs its notification URL:
--notification-url, default --to. A generic guard's hmac block is given as
--hmac <option>=<value> (header, prefix, algorithm, encoding,
secret_encoding, signed, timestamp), e.g. --hmac header=X-Signature
--hmac prefix=sha256=.

Each preset has a sample body (replace it with --body or --body-file):

` + presets.String() + `
<id> is --id, random by default: the same --id (and --time) makes the same
delivery again, which the guard answers from its store (X-Callback-Replayed).

Example, against the demo (go run ./cmd/caddy run --config Caddyfile.example):

  caddy callback sign glopal --to http://localhost:8080/glopal/callback \
      --basic-auth glopal:demo-glopal-password
  caddy callback sign glopal --signed-url sig=demo-glopal-hmac-secret \
      --to 'http://localhost:8080/glopal/confirmation/DE/ORD-1001?lang=de-DE'
  caddy callback sign payglocal --to http://localhost:8080/payglocal/callback \
      --jwt-key examples/demo/payglocal-demo-private.pem --kid demo-kid-1 \
      --event AUTHORIZED --format http > capture.http
  caddy callback sign stripe --to http://localhost:8080/stripe/webhook \
      --secret whsec_demo_stripe_endpoint_secret

` + exitCodesHelp
}

// signFlags are the flags that describe a delivery, shared by sign and send.
type signFlags struct {
	to              string
	method          string
	id              string
	event           string
	at              string
	body            string
	bodyFile        string
	contentType     string
	headers         []string
	basicAuth       string
	querySecret     string
	headerSecret    string
	signedURL       string
	jwtKey          string
	jwtSecret       string
	kid             string
	alg             string
	claims          []string
	jwtIn           string
	jwtTTL          caddy.Duration
	secret          string
	timestamp       string
	notificationURL string
	hmacOpts        []string

	bodySet bool // --body given (it may be empty)
}

func (f *signFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.to, "to", "", "the callback `URL` (required); with --signed-url, the URL that is signed")
	fl.StringVarP(&f.method, "method", "X", "", "HTTP `method` (default POST; GET for a signed URL without body)")
	fl.StringVar(&f.id, "id", "", "the order, purchase or checkout `id` in the sample (default random)")
	fl.StringVar(&f.event, "event", "", "the `event` of the sample (default: the preset's, see above)")
	fl.StringVar(&f.at, "time", "", "the `time` the delivery claims to be made at, RFC 3339 (iat, timestamps; default now)")
	fl.StringVar(&f.body, "body", "", "the `body`, instead of the preset's sample")
	fl.StringVar(&f.bodyFile, "body-file", "", "read the body from a `file` (- for stdin)")
	fl.StringVar(&f.contentType, "content-type", "", "the body's `type` (default: guessed from the body)")
	fl.StringArrayVarP(&f.headers, "header", "H", nil, "an extra header `'Name: value'` (repeatable; Host too)")
	fl.StringVar(&f.basicAuth, "basic-auth", "", "`user:password` of a basic_auth line")
	fl.StringVar(&f.querySecret, "query-secret", "", "`param=secret` of a query_secret line, added to the URL")
	fl.StringVar(&f.headerSecret, "header-secret", "", "`'Header: value'` of a header_secret line")
	fl.StringVar(&f.signedURL, "signed-url", "", "`param=secret` of a signed_url line: the URL gets its HMAC-SHA256 signature")
	fl.StringVar(&f.jwtKey, "jwt-key", "", "sign a JWT with this private key (PEM `file`, RSA or EC)")
	fl.StringVar(&f.jwtSecret, "jwt-secret", "", "sign a JWT with this HMAC `secret` (HS256)")
	fl.StringVar(&f.kid, "kid", "", "the JWT header's key id (`kid`)")
	fl.StringVar(&f.alg, "alg", "", "the JWT's `alg` (default from the key: RS256, ES256/384/512, HS256)")
	fl.StringArrayVar(&f.claims, "claim", nil, "a JWT claim `name=value`, or name:=<JSON> for a number etc. (repeatable; overrides the preset's)")
	fl.StringVar(&f.jwtIn, "jwt-in", "", "`where` the JWT goes: header:<Name>, form:<field>, json:<field> or query:<param> (default: where the preset's token goes, else header:Authorization, as Bearer)")
	fl.StringVar(&f.secret, "secret", "", "sign the body with this hmac `secret`, as the preset's provider does (whsec_… for Stripe and Standard Webhooks, hex for Adyen)")
	fl.StringVar(&f.timestamp, "timestamp", "", "the signed `time`, RFC 3339 or Unix seconds (default: --time, else now)")
	fl.StringVar(&f.notificationURL, "notification-url", "", "square: the notification `URL` as configured at Square (default: --to)")
	fl.StringArrayVar(&f.hmacOpts, "hmac", nil, "an option of the guard's hmac block, `name=value`: header, prefix, algorithm, encoding, secret_encoding, signed, timestamp (repeatable; generic needs header=<Name>)")
	f.jwtTTL = caddy.Duration(5 * time.Minute)
	fl.Var((*durationFlag)(&f.jwtTTL), "jwt-ttl", "the JWT's lifetime: exp = iat + this `duration` (unless the preset's token has claims of its own)")
}

func newSignCommand() *cobra.Command {
	var f signFlags
	var format string
	cmd := &cobra.Command{
		Use:   "sign <preset> --to <url> [credentials] [--format curl|http]",
		Short: "Prints a correctly authenticated test delivery as curl or raw HTTP",
		Long:  strings.TrimSpace(signLong()),
		Args:  cobra.ArbitraryArgs,
	}
	f.register(cmd)
	cmd.Flags().StringVar(&format, "format", "curl", "output: curl (a command line) or http (the raw request)")
	cmd.RunE = withExitCode(func(cmd *cobra.Command, args []string) (int, error) {
		if format != "curl" && format != "http" {
			return exitUsage, fmt.Errorf("--format %q: want curl or http", format)
		}
		d, err := f.delivery(cmd, args)
		if err != nil {
			return codeOf(err), err
		}
		out := cmd.OutOrStdout()
		if format == "http" {
			raw, err := d.rawHTTP()
			if err != nil {
				return exitUsage, err
			}
			_, _ = out.Write(raw)
			if isTerminal(out) {
				fmt.Fprintln(out)
			}
			return exitOK, nil
		}
		fmt.Fprintln(out, d.curl())
		return exitOK, nil
	})
	return cmd
}

// delivery builds the delivery the command's flags describe, and prints
// the warnings about it on stderr.
func (f *signFlags) delivery(cmd *cobra.Command, args []string) (*delivery, error) {
	f.bodySet = cmd.Flags().Changed("body")
	d, warnings, err := buildDelivery(args, f, cmd.InOrStdin())
	for _, w := range warnings {
		fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
	}
	return d, err
}

// durationFlag reads a flag as Caddy reads a duration: 90s, 5m, 1d.
type durationFlag caddy.Duration

func (d *durationFlag) String() string { return time.Duration(*d).String() }
func (d *durationFlag) Type() string   { return "duration" }

func (d *durationFlag) Set(s string) error {
	v, err := caddy.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = durationFlag(v)
	return nil
}
