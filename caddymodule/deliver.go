package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/callbackguard/callbackguard/caddymodule/deadline"
	"github.com/callbackguard/callbackguard/caddymodule/dedupe"
	"github.com/callbackguard/callbackguard/config"
)

// The result classes of a delivery: the result label of
// callback_guard_requests_total.
const (
	resultForwarded     = "forwarded"
	resultRejected      = "rejected"
	resultReplayed      = "replayed"
	resultTimeout       = "timeout"
	resultTooLarge      = "too_large"
	resultUpstreamError = "upstream_error"
	resultStoreError    = "store_error"
	resultReported      = "reported"
)

// resultMessages are the debug log messages, made once.
var resultMessages = func() map[string]string {
	m := make(map[string]string)
	for _, r := range results {
		m[r] = "callback " + r
	}
	return m
}()

// claimMargin is how long a claim outlives the forward it covers, so that
// a claim is never taken over while its forward may still answer.
const claimMargin = 2 * time.Second

// hdrReplayed marks an answer that came from the store.
const hdrReplayed = "X-Callback-Replayed"

// deliver forwards a verified request, deduplicated by key when the method
// allows it and a store is configured.
func (g *Handler) deliver(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, arrival time.Time, key string) error {
	if key == "" || g.store == nil || !dedupeMethod(r.Method) {
		return g.forward(w, r, next, arrival, "", dedupe.Claim{})
	}
	storeKey := g.settings.Preset.Name + ":" + key
	deadlineAt := arrival.Add(g.settings.Deadline)
	claimTTL := g.settings.UpstreamTimeout + claimMargin
	for {
		claim, err := g.store.Claim(r.Context(), storeKey, claimTTL)
		if err != nil {
			if r.Context().Err() != nil {
				return nil // the provider hung up: no store failure
			}
			g.storeFailed("claim", err)
			return g.withoutStore(w, r, next, arrival)
		}
		switch claim.State {
		case dedupe.Answered:
			writeReplay(w, claim.Answer)
			g.done(resultReplayed, arrival)
			return nil
		case dedupe.Claimed:
			if claim.Attempt > 1 {
				r.Header[hdrAttempt] = []string{strconv.Itoa(claim.Attempt)}
			}
			return g.forward(w, r, next, arrival, storeKey, claim)
		}
		// In flight elsewhere: wait for that answer within our own deadline,
		// then look again (answered: replay; released: claim it ourselves).
		ctx, cancel := context.WithDeadline(r.Context(), deadlineAt)
		err = g.store.Wait(ctx, storeKey)
		waitEnded := ctx.Err()
		cancel()
		switch {
		case err == nil:
			continue
		case r.Context().Err() != nil:
			return nil // the provider hung up
		case waitEnded != nil:
			// Our own deadline: the first delivery is still in flight.
			deadline.Write(w, g.onTimeout, false)
			g.done(resultTimeout, arrival)
			return nil
		}
		// The store failed while we waited: store_failure decides, as for
		// a failed claim.
		g.storeFailed("wait", err)
		return g.withoutStore(w, r, next, arrival)
	}
}

// withoutStore is what store_failure says to do when the store cannot be
// asked: reject answers 503 so that the provider retries; open forwards
// undeduplicated, so that nothing is lost.
func (g *Handler) withoutStore(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, arrival time.Time) error {
	if g.settings.StoreFailure == config.StoreFailureReject {
		g.answerError(w, r, http.StatusServiceUnavailable, "store_unavailable")
		g.done(resultStoreError, arrival)
		return nil
	}
	return g.forward(w, r, next, arrival, "", dedupe.Claim{})
}

// forward runs next into a buffer, with the deadline armed: the provider
// gets the backend's answer if it comes in time, else the on_timeout answer
// at the deadline. The forward itself runs on, detached from the provider's
// connection, until upstream_timeout; a storable answer completes the key
// whenever it comes, a failed forward releases it.
//
// Over HTTP/1 the forward runs inline and a timer writes the on_timeout
// answer, closing the connection, while the forward goes on: no goroutine
// and no request clone per request. HTTP/2 and HTTP/3 end a stream only
// when the handler returns, so there the forward runs in a goroutine of its
// own, with a request of its own, and ServeHTTP returns at the deadline.
func (g *Handler) forward(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, arrival time.Time, storeKey string, claim dedupe.Claim) error {
	if r.ProtoMajor >= 2 {
		return g.forwardDetached(w, r, next, arrival, storeKey, claim)
	}
	rec := deadline.NewRecorder()
	defer rec.Release()
	gate := rec.Arm(w, arrival.Add(g.settings.Deadline), g.onTimeout, g.countTimeout)
	// Whatever happens below (a panic included), the timer must not fire
	// once ServeHTTP has returned, and the key must not stay claimed.
	defer gate.Disarm()
	if storeKey != "" {
		defer func() {
			if p := recover(); p != nil {
				g.release(r, storeKey, claim)
				panic(p)
			}
		}()
	}
	fr, cancel := deadline.Detach(r, arrival.Add(g.settings.UpstreamTimeout))
	started := time.Now()
	err := next.ServeHTTP(rec, fr)
	g.metrics.upstreamDur.Observe(time.Since(started).Seconds())
	cancel()
	storable := g.settle(r, rec, err, storeKey, claim)
	if !gate.Take() {
		// The provider got on_timeout at the deadline (counted then).
		g.logLate(rec.Status(), storable && storeKey != "")
		return nil
	}
	return g.answer(w, rec, err, storable, arrival)
}

// countTimeout counts an on_timeout answer written by the deadline's timer,
// at the deadline. A method value made once, so arming costs no closure.
func (g *Handler) countTimeout() {
	g.metrics.done(resultTimeout, g.settings.Deadline)
	if ce := g.logger.Check(zapcore.DebugLevel, resultMessages[resultTimeout]); ce != nil {
		ce.Write(zap.String("preset", g.settings.Preset.Name), zap.String("result", resultTimeout), zap.Duration("duration", g.settings.Deadline))
	}
}

// forwardDetached is forward for protocols whose streams end only when the
// handler returns.
func (g *Handler) forwardDetached(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, arrival time.Time, storeKey string, claim dedupe.Claim) error {
	fr, cancel := deadline.DetachClone(r, arrival.Add(g.settings.UpstreamTimeout))
	rec := deadline.NewRecorder()
	type result struct {
		err      error
		storable bool
	}
	finished := make(chan result, 1)
	go func() {
		defer cancel()
		// This goroutine outlives ServeHTTP, beyond net/http's recovery: a
		// panic below must neither kill Caddy nor leave the key claimed.
		defer func() {
			if p := recover(); p != nil {
				if ce := g.logger.Check(zapcore.ErrorLevel, "panic in a detached forward"); ce != nil {
					ce.Write(zap.Any("panic", p), zap.ByteString("stack", debug.Stack()))
				}
				err := fmt.Errorf("%s: panic in the forward: %v", config.Directive, p)
				if storeKey != "" {
					g.release(fr, storeKey, claim)
				}
				finished <- result{err: err}
			}
		}()
		started := time.Now()
		err := next.ServeHTTP(rec, fr)
		g.metrics.upstreamDur.Observe(time.Since(started).Seconds())
		finished <- result{err, g.settle(fr, rec, err, storeKey, claim)}
	}()
	timer := time.NewTimer(time.Until(arrival.Add(g.settings.Deadline)))
	defer timer.Stop()
	select {
	case res := <-finished:
		defer rec.Release()
		return g.answer(w, rec, res.err, res.storable, arrival)
	case <-timer.C:
		deadline.Write(w, g.onTimeout, false)
		g.done(resultTimeout, arrival)
	case <-r.Context().Done():
		// The provider hung up: there is no one to answer.
	}
	// The forward runs on and settles the key; its recorder is left to
	// the garbage collector.
	return nil
}

// settle completes the key with a storable answer or releases it after a
// failed forward, and reports whether the answer was storable.
func (g *Handler) settle(r *http.Request, rec *deadline.Recorder, err error, storeKey string, claim dedupe.Claim) bool {
	if err == nil && rec.Status() == 0 {
		rec.WriteHeader(http.StatusOK) // Caddy's answer for a handler that wrote nothing
	}
	storable := err == nil && storableStatus(rec.Status())
	if storeKey == "" {
		return storable
	}
	if !storable {
		g.release(r, storeKey, claim)
		return false
	}
	ctx, cancel := g.storeContext(r)
	defer cancel()
	if serr := g.store.Complete(ctx, storeKey, claim.Token, answerOf(rec), g.settings.DedupeTTL); serr != nil && !errors.Is(serr, dedupe.ErrNotHeld) {
		g.storeFailed("complete", serr)
	}
	return true
}

// release gives the key up after a failed forward, so that the provider's
// retry is forwarded again as the next attempt.
func (g *Handler) release(r *http.Request, storeKey string, claim dedupe.Claim) {
	ctx, cancel := g.storeContext(r)
	defer cancel()
	if serr := g.store.Release(ctx, storeKey, claim.Token, g.settings.DedupeTTL); serr != nil && !errors.Is(serr, dedupe.ErrNotHeld) {
		g.storeFailed("release", serr)
	}
}

// answer passes the backend's answer, or the forward's error, on to the
// provider in time.
func (g *Handler) answer(w http.ResponseWriter, rec *deadline.Recorder, err error, storable bool, arrival time.Time) error {
	if err != nil {
		g.done(resultUpstreamError, arrival)
		return err // Caddy answers it as it would for a plain reverse_proxy
	}
	rec.WriteTo(w)
	if storable {
		g.done(resultForwarded, arrival)
	} else {
		g.done(resultUpstreamError, arrival)
	}
	return nil
}

// storeContext is the context of a store call made after the forward: not
// the provider's (who may be gone; the key must not be), and bounded for a
// store that can block. The memory store never blocks: it gets none, which
// spares a timer per delivery.
func (g *Handler) storeContext(r *http.Request) (context.Context, context.CancelFunc) {
	if !g.storeBlocks {
		return context.Background(), func() {}
	}
	return context.WithTimeout(context.WithoutCancel(r.Context()), storeCallTimeout)
}

// storeCallTimeout bounds one store call made after the forward.
const storeCallTimeout = 2 * time.Second

// storableStatus: an answer is kept when the backend gave it with a status
// below 500 other than 408 and 429; anything else is a failed forward that
// the provider's retry must reach again.
func storableStatus(status int) bool {
	return status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests
}

func dedupeMethod(m string) bool {
	return m == http.MethodPost || m == http.MethodPut || m == http.MethodPatch
}

// notReplayed are the headers of an answer that belong to one exchange,
// not to the answer: they are not stored.
var notReplayed = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Transfer-Encoding": true,
	"Te": true, "Trailer": true, "Upgrade": true, "Date": true, "Content-Length": true,
	"Alt-Svc": true, "Server": true,
	// A cookie belongs to the browser it was set for (PayGlocal's callback
	// is a buyer's browser): a replay must not hand it to whoever re-posts.
	"Set-Cookie": true,
}

func answerOf(rec *deadline.Recorder) *dedupe.Answer {
	a := &dedupe.Answer{Status: rec.Status(), Body: rec.Body()}
	for k, v := range rec.Header() {
		if notReplayed[k] {
			continue
		}
		if a.Header == nil {
			a.Header = make(http.Header, len(rec.Header()))
		}
		a.Header[k] = v
	}
	return a
}

func writeReplay(w http.ResponseWriter, a *dedupe.Answer) {
	h := w.Header()
	for k, v := range a.Header {
		h[k] = v
	}
	h[hdrReplayed] = []string{"true"}
	h.Set("Content-Length", strconv.Itoa(len(a.Body)))
	w.WriteHeader(a.Status)
	if len(a.Body) > 0 {
		_, _ = w.Write(a.Body)
	}
}

func (g *Handler) storeFailed(op string, err error) {
	g.storeErrors.Inc()
	if ce := g.logger.Check(zapcore.WarnLevel, "deduplication store error"); ce != nil {
		ce.Write(zap.String("preset", g.settings.Preset.Name), zap.String("store", g.store.Kind()),
			zap.String("op", op), zap.Error(err))
	}
}

// logLate notes an answer that came after the provider got on_timeout.
func (g *Handler) logLate(status int, stored bool) {
	if ce := g.logger.Check(zapcore.DebugLevel, "backend answered after the deadline"); ce != nil {
		ce.Write(zap.String("preset", g.settings.Preset.Name), zap.Int("status", status), zap.Bool("stored", stored))
	}
}

// done counts a delivery's result and how long the provider waited for
// its answer (for a timeout: the deadline, whenever the forward ended).
func (g *Handler) done(result string, arrival time.Time) {
	waited := time.Since(arrival)
	if result == resultTimeout && waited > g.settings.Deadline {
		waited = g.settings.Deadline
	}
	g.metrics.done(result, waited)
	if result == resultRejected {
		return // logged at INFO by reject
	}
	if ce := g.logger.Check(zapcore.DebugLevel, resultMessages[result]); ce != nil {
		ce.Write(zap.String("preset", g.settings.Preset.Name), zap.String("result", result), zap.Duration("duration", waited))
	}
}
