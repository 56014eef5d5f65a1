package deadline

import (
	"context"
	"maps"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Forwards bounds the forwards of one guard that run on after their client
// went away (or after the deadline answered it), so that a client resetting
// streams cannot pile up forwards, goroutines and upstream connections
// until the upstream timeout.
type Forwards struct {
	max  int64
	kept atomic.Int64
}

// NewForwards bounds the forwards kept past their client to max at once.
func NewForwards(max int) *Forwards { return &Forwards{max: int64(max)} }

// Kept is the number of forwards running past their client now.
func (f *Forwards) Kept() int { return int(f.kept.Load()) }

// Forward is one forward of a request to the next handler.
type Forward struct {
	// Request is what the next handler gets: r with a context of its own.
	Request *http.Request

	owner  *Forwards
	cancel context.CancelFunc
	stop   func() bool

	mu      sync.Mutex
	ended   bool
	counted bool
}

// Start prepares a forward of r that ends at until. A forward whose answer
// is worth having after its client left (keep: a deduplicated delivery,
// whose late answer is stored) runs on past the client while fewer than
// the bound are; any other forward ends when its client goes away, as a
// plain reverse_proxy's does. With clone, the request is a deep copy with
// its own copy of Caddy's vars, for a forward that outlives ServeHTTP (the
// server reads the vars map again, without a lock, once ServeHTTP
// returned). End must be called once the next handler returned.
func (f *Forwards) Start(r *http.Request, until time.Time, keep, clone bool) *Forward {
	fw := &Forward{owner: f}
	var ctx context.Context
	if keep {
		ctx, fw.cancel = context.WithDeadline(context.WithoutCancel(r.Context()), until)
		fw.stop = context.AfterFunc(r.Context(), fw.clientGone)
	} else {
		ctx, fw.cancel = context.WithDeadline(r.Context(), until)
	}
	if clone {
		if vars, ok := ctx.Value(caddyhttp.VarsCtxKey).(map[string]any); ok {
			ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, maps.Clone(vars))
		}
		fw.Request = r.Clone(ctx)
	} else {
		fw.Request = r.WithContext(ctx)
	}
	return fw
}

// clientGone keeps the forward running, counted, if the bound allows it,
// and otherwise ends it with its client.
func (fw *Forward) clientGone() {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if fw.ended {
		return
	}
	if fw.owner.kept.Add(1) > fw.owner.max {
		fw.owner.kept.Add(-1)
		fw.cancel()
		return
	}
	fw.counted = true
}

// Cut reports whether the forward's context ended before the next handler
// returned (its client went away, or the upstream timeout passed): what it
// wrote is then not the backend's answer. Call it before End.
func (fw *Forward) Cut() bool { return fw.Request.Context().Err() != nil }

// End releases what the forward held: its context, and its place among
// the forwards kept past their client.
func (fw *Forward) End() {
	if fw.stop != nil {
		fw.stop()
	}
	fw.mu.Lock()
	fw.ended = true
	if fw.counted {
		fw.owner.kept.Add(-1)
		fw.counted = false
	}
	fw.mu.Unlock()
	fw.cancel()
}
