// Package deadline makes sure a payment provider gets an answer within its
// response deadline, whatever the backend does, without cutting off the
// forward: the backend's answer is buffered in a Recorder, a Gate arms a
// timer that writes the on_timeout answer to the client at the deadline,
// and the forward runs on, detached from the client's connection, until the
// upstream timeout, so that a late answer can still be kept.
//
// Everything runs in the handler's own goroutine except the timer's
// callback, which writes to the client's writer only while the handler is
// still inside ServeHTTP (the handler waits for the forward), under the
// Gate's lock. Nothing writes to the client after ServeHTTP returns.
package deadline

import (
	"context"
	"maps"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Answer is a fixed answer: the on_timeout answer, or an error.
type Answer struct {
	Status int
	Body   []byte
	// ContentType is set when Body is not empty.
	ContentType string
}

// gate states.
const (
	pending  = iota // neither the handler nor the timer has answered
	answered        // the handler has taken the writer
	timedOut        // the timer has written the on_timeout answer
)

// Gate hands the client's writer to whichever comes first: the handler
// with the backend's answer, or the deadline with the on_timeout answer.
// A Gate lives in a pooled Recorder and reuses its timer.
type Gate struct {
	mu     sync.Mutex
	state  int
	armed  bool
	timer  *time.Timer
	w      http.ResponseWriter
	answer *Answer
	onFire func() // called after the on_timeout answer was written
	// reusable is false when the timer's callback may still run: the
	// Recorder must then not go back to the pool, or the callback could
	// answer another request.
	reusable bool
}

// Arm starts the deadline on the recorder's gate: at `at`, unless Take was
// called first, answer is written to w and flushed.
func (r *Recorder) Arm(w http.ResponseWriter, at time.Time, answer *Answer, onFire func()) *Gate {
	g := &r.gate
	g.state, g.w, g.answer, g.onFire, g.armed, g.reusable = pending, w, answer, onFire, true, false
	if g.timer == nil {
		g.timer = time.AfterFunc(time.Until(at), g.fire)
	} else {
		g.timer.Reset(time.Until(at))
	}
	return g
}

func (g *Gate) fire() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state != pending {
		return
	}
	g.state = timedOut
	Write(g.w, g.answer, true)
	if g.onFire != nil {
		g.onFire()
	}
}

// Disarm stops the deadline if neither side has answered yet, so that the
// timer never writes after the handler has returned. It is a no-op after
// Take or after the timer fired.
func (g *Gate) Disarm() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state != pending {
		return
	}
	g.state = answered
	g.reusable = g.timer.Stop()
}

// Take claims the writer for the handler. It returns false when the
// deadline has already answered the client: the handler must then not
// write anything.
func (g *Gate) Take() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state == timedOut {
		g.reusable = true // the callback has run to its end
		return false
	}
	g.state = answered
	g.reusable = g.timer.Stop()
	return true
}

// TimedOut reports whether the deadline answered the client.
func (g *Gate) TimedOut() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.state == timedOut
}

// Write writes a fixed answer with its length. With closeConn the
// connection is closed after it (the handler goes on running, so the client
// must not wait for the connection to be reusable), and the answer is
// flushed at once.
func Write(w http.ResponseWriter, a *Answer, closeConn bool) {
	h := w.Header()
	if len(a.Body) > 0 && a.ContentType != "" {
		h.Set("Content-Type", a.ContentType)
	}
	h.Set("Content-Length", strconv.Itoa(len(a.Body)))
	if closeConn {
		h.Set("Connection", "close")
	}
	w.WriteHeader(a.Status)
	if len(a.Body) > 0 {
		_, _ = w.Write(a.Body)
	}
	if closeConn {
		_ = http.NewResponseController(w).Flush()
	}
}

// Detach returns the request with a context that the client's going away
// does not cancel (the provider may hang up once it has the on_timeout
// answer) and that ends at `until`. The context keeps the request's values:
// Caddy's replacer and vars.
func Detach(r *http.Request, until time.Time) (*http.Request, context.CancelFunc) {
	ctx, cancel := context.WithDeadline(context.WithoutCancel(r.Context()), until)
	return r.WithContext(ctx), cancel
}

// DetachClone is Detach for a forward that outlives ServeHTTP: the request
// is a deep copy, and Caddy's vars map (which the server reads again after
// ServeHTTP returns, without a lock) is copied, so that the forward never
// touches what the server still uses.
func DetachClone(r *http.Request, until time.Time) (*http.Request, context.CancelFunc) {
	ctx, cancel := context.WithDeadline(context.WithoutCancel(r.Context()), until)
	if vars, ok := ctx.Value(caddyhttp.VarsCtxKey).(map[string]any); ok {
		ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, maps.Clone(vars))
	}
	return r.Clone(ctx), cancel
}
