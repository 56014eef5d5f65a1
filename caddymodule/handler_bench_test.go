package caddymodule

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/callbackguard/callbackguard/config"
)

// provisioned returns a Handler provisioned outside a server.
func provisioned(tb testing.TB, g config.Guard) *Handler {
	tb.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	tb.Cleanup(cancel)
	h := &Handler{Guard: g}
	if err := h.Provision(ctx); err != nil {
		tb.Fatal(err)
	}
	h.logger = zap.NewNop() // the bare context logs at debug to stderr
	tb.Cleanup(func() { _ = h.Cleanup() })
	return h
}

// okNext is a backend that reads the body and answers 200.
var okNext = caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"ok":true}`)
	return nil
})

func benchHandler(b *testing.B, g config.Guard, prepare func(r *http.Request), body func(i int64) string) {
	h := provisioned(b, g)
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			r := httptest.NewRequest("POST", "/cb?x=1", strings.NewReader(body(i)))
			r.Header.Set("Content-Type", "application/json")
			repl := caddy.NewReplacer()
			r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
			prepare(r)
			w := httptest.NewRecorder()
			if err := h.ServeHTTP(w, r, okNext); err != nil || w.Code != 200 {
				b.Fatalf("%d %v %s", w.Code, err, w.Body)
			}
		}
	})
}

func BenchmarkHandlerHeaderSecret(b *testing.B) {
	benchHandler(b, config.Guard{Preset: "generic", HeaderSecret: []config.HeaderSecret{{Header: "X-Secret", Value: "s3cret"}}},
		func(r *http.Request) { r.Header.Set("X-Secret", "s3cret") },
		func(i int64) string { return `{"id":"` + strconv.FormatInt(i, 10) + `"}` })
}

func BenchmarkHandlerDedupeMemory(b *testing.B) {
	benchHandler(b, config.Guard{Preset: "generic", HeaderSecret: []config.HeaderSecret{{Header: "X-Secret", Value: "s3cret"}}, Dedupe: []string{"{json.id}"}},
		func(r *http.Request) { r.Header.Set("X-Secret", "s3cret") },
		func(i int64) string { return `{"id":"bench-` + strconv.FormatInt(i, 10) + `"}` })
}

func BenchmarkHandlerDedupeReplay(b *testing.B) {
	benchHandler(b, config.Guard{Preset: "generic", HeaderSecret: []config.HeaderSecret{{Header: "X-Secret", Value: "s3cret"}}, Dedupe: []string{"{json.id}"}},
		func(r *http.Request) { r.Header.Set("X-Secret", "s3cret") },
		func(i int64) string { return `{"id":"same"}` })
}

// BenchmarkHandlerBaseline is the harness alone (request, recorder,
// replacer, the stub backend): subtract it from the others.
func BenchmarkHandlerBaseline(b *testing.B) {
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			r := httptest.NewRequest("POST", "/cb?x=1", strings.NewReader(`{"id":"`+strconv.FormatInt(i, 10)+`"}`))
			r.Header.Set("Content-Type", "application/json")
			r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
			r.Header.Set("X-Secret", "s3cret")
			w := httptest.NewRecorder()
			_ = okNext.ServeHTTP(w, r)
		}
	})
}
