package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

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
	//lint:ignore SA1019 plugins' matchers may still implement only Match
	case caddyhttp.RequestMatcher:
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
func loadGuard(ctx caddy.Context, raw json.RawMessage) (OfflineGuard, error) {
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
	g, ok := mod.(OfflineGuard)
	if !ok {
		return nil, fmt.Errorf("unexpected module type %T", mod)
	}
	return g, nil
}
