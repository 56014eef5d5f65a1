// Package caddymodule is the Caddy glue of callbackguard: the
// http.handlers.callback_guard module, its Caddyfile directive, provisioning
// and the request pipeline. Import it in a Caddy build
// (xcaddy build --with github.com/callbackguard/callbackguard/caddymodule);
// it brings the `caddy callback` command (package cli) with it.
//
// A callback goes through the files in this order: the Caddyfile
// (caddyfile.go) or JSON sets the config.Guard that Provision
// (provision.go) turns into verifiers, templates and a store; ServeHTTP
// (handler.go) reads the body, runs the verifiers and writes the
// X-Callback-* headers; deliver (deliver.go) claims the dedupe key, forwards
// within the deadline, stores the answer and replays it to retries
// (replay.go). The verifiers, templates, stores and deadline live in the
// sub-packages; this package only wires them to Caddy and counts
// (metrics.go).
package caddymodule

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/callbackguard/callbackguard/caddymodule/deadline"
	"github.com/callbackguard/callbackguard/caddymodule/dedupe"
	"github.com/callbackguard/callbackguard/caddymodule/template"
	"github.com/callbackguard/callbackguard/caddymodule/verify"
	"github.com/callbackguard/callbackguard/config"
)

func init() {
	caddy.RegisterModule(Handler{})
	httpcaddyfile.RegisterHandlerDirective(config.Directive, parseCaddyfile)
	httpcaddyfile.RegisterGlobalOption(config.Directive, parseGlobalOption)
	// Guards must run before the proxy they protect, so that no `order`
	// line is needed.
	httpcaddyfile.RegisterDirectiveOrder(config.Directive, httpcaddyfile.Before, "reverse_proxy")
}

// Handler guards one callback endpoint of one payment provider: it
// authenticates each inbound callback, and forwards only genuine ones to the
// next handler (usually reverse_proxy) with normalized X-Callback-* headers.
//
// The configuration fields are those of config.Guard, inline.
type Handler struct {
	config.Guard

	settings *config.Settings
	// groups are the kinds of authentication, each a set of alternatives;
	// every group must pass. Those that read no body come first: the
	// first bodyGroups run before the body is read.
	groups     []verifierGroup
	bodyGroups int
	// verified is the X-Callback-Verified value: every group passed.
	verified string

	stripAuthorization bool
	stripHeaders       []string
	stripParams        []string
	needsClientURL     bool
	// checkedHeaders are the headers the guard read a credential from
	// (lower case): a Connection header must not make a proxy drop them.
	checkedHeaders []string

	// store keeps dedupe keys and answers (nil: deduplication off).
	store       dedupe.Store
	storeName   string // the UsagePool key of store, for Cleanup
	storeBlocks bool   // store calls go over the network (Redis)
	onTimeout   *deadline.Answer
	// forwards bounds the forwards kept running past their client.
	forwards  *deadline.Forwards
	maxAnswer int // the largest answer buffered and stored

	templates *template.Set
	dedupe    []*template.Template
	event     *template.Template
	// outcomeFrom is the preset's outcome template (nil: the event).
	outcomeFrom *template.Template

	// reporter is this guard as it forwards a failed request under
	// report_only (nil: failures are rejected).
	reporter *Handler

	metrics     *guardCounters
	storeErrors prometheus.Counter
	logger      *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.callback_guard",
		New: func() caddy.Module { return new(Handler) },
	}
}

// verifierGroup is one kind of authentication: any alternative may pass.
type verifierGroup struct {
	kind string
	alts []verify.Verifier
	// credentials[i] fingerprints the secret of alts[i] ("" when the
	// verifier names its credential itself, in verify.Output.Credential).
	credentials []string
	readsBody   bool
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ caddyfile.Unmarshaler       = (*Handler)(nil)
)
