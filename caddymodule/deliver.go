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

// maxKeptForwards bounds, per guard, the deduplicated forwards that run on
// after their client went away, for a late answer to store. Past it they
// end with their client, as any other forward does.
const maxKeptForwards = 256

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

// deliver forwards a verified request, deduplicated by key when the method
// allows it and a store is configured. Keys are scoped by preset and by
// the credentials that verified the delivery, so that a delivery verified
// by one credential never gets an answer stored by another's.
func (g *Handler) deliver(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, arrival time.Time, key, scope string) error {
	if key == "" || g.store == nil || !dedupeMethod(r.Method) {
		return g.forward(w, r, next, arrival, "", dedupe.Claim{})
	}
	storeKey := g.settings.Preset.Name + ":" + scope + ":" + key
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
// at the deadline. A deduplicated forward runs on past that (within the
// guard's bound on such forwards) until upstream_timeout: a storable
// answer completes the key whenever it comes, a failed forward releases
// it. Any other forward ends with its client, as a plain reverse_proxy's.
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
	rec := deadline.NewRecorder(g.maxAnswer)
	defer rec.Release()
	gate := rec.Arm(w, arrival.Add(g.settings.Deadline), g.onTimeout, g.countTimeout)
	// Whatever happens below (a panic included), the timer must not fire
	// once ServeHTTP has returned, and the key must not stay claimed.
	defer gate.Disarm()
	fw := g.forwards.Start(r, arrival.Add(g.settings.UpstreamTimeout), storeKey != "", false)
	defer func() {
		if p := recover(); p != nil {
			fw.End()
			if storeKey != "" {
				g.release(r, storeKey, claim)
			}
			panic(p)
		}
	}()
	res := g.run(next, rec, fw, storeKey, claim)
	return g.finish(w, rec, gate, res, arrival)
}

// forwarded is how a forward ended.
type forwarded struct {
	err error
	// cut: the forward's context ended first (its client went away, or
	// upstream_timeout): what the recorder holds is not the backend's.
	cut bool
	// ok: the backend's answer has a status that is stored.
	ok bool
}

// run forwards to next and settles the key.
func (g *Handler) run(next caddyhttp.Handler, rec *deadline.Recorder, fw *deadline.Forward, storeKey string, claim dedupe.Claim) forwarded {
	started := time.Now()
	err := next.ServeHTTP(rec, fw.Request)
	g.metrics.upstreamDur.Observe(time.Since(started).Seconds())
	res := forwarded{err: err, cut: fw.Cut()}
	fw.End()
	res.ok = g.settle(fw.Request, rec, res, storeKey, claim)
	return res
}

// finish answers the provider with the forward's outcome, unless the
// deadline already did, or the provider is gone.
func (g *Handler) finish(w http.ResponseWriter, rec *deadline.Recorder, gate *deadline.Gate, res forwarded, arrival time.Time) error {
	if !gate.Take() {
		// The provider got on_timeout at the deadline (counted then).
		g.logLate(rec.Status(), res.ok && !rec.Streamed())
		return nil
	}
	if res.cut && res.err == nil {
		return nil // the provider went away: there is no one to answer
	}
	return g.answer(w, rec, res.err, res.ok, arrival)
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
	rec := deadline.NewRecorder(g.maxAnswer)
	gate := rec.Hold(w)
	fw := g.forwards.Start(r, arrival.Add(g.settings.UpstreamTimeout), storeKey != "", true)
	finished := make(chan forwarded, 1)
	go func() {
		// This goroutine outlives ServeHTTP, beyond net/http's recovery: a
		// panic below must neither kill Caddy nor leave the key claimed.
		defer func() {
			if p := recover(); p != nil {
				if ce := g.logger.Check(zapcore.ErrorLevel, "panic in a detached forward"); ce != nil {
					ce.Write(zap.Any("panic", p), zap.ByteString("stack", debug.Stack()))
				}
				fw.End()
				if storeKey != "" {
					g.release(fw.Request, storeKey, claim)
				}
				finished <- forwarded{err: fmt.Errorf("panic in the forward: %v", p)}
			}
		}()
		finished <- g.run(next, rec, fw, storeKey, claim)
	}()
	timer := time.NewTimer(time.Until(arrival.Add(g.settings.Deadline)))
	defer timer.Stop()
	select {
	case res := <-finished:
		defer rec.Release()
		return g.finish(w, rec, gate, res, arrival)
	case <-timer.C:
		if gate.Expire() {
			deadline.Write(w, g.onTimeout, false)
			g.done(resultTimeout, arrival)
			return nil // the forward runs on, or ends with the stream
		}
	case <-r.Context().Done():
		if gate.Expire() {
			return nil // the provider hung up: there is no one to answer
		}
	}
	// The recorder streams an answer over max_answer to the provider: it
	// writes to w, so ServeHTTP must not return before it is done.
	return g.finish(w, rec, gate, <-finished, arrival)
}

// settle completes the key with a storable answer or releases it after a
// failed forward (or an answer too large to keep), and reports whether the
// answer's status is one that is stored.
func (g *Handler) settle(r *http.Request, rec *deadline.Recorder, res forwarded, storeKey string, claim dedupe.Claim) bool {
	if res.err == nil && rec.Status() == 0 {
		rec.WriteHeader(http.StatusOK) // Caddy's answer for a handler that wrote nothing
	}
	ok := res.err == nil && !res.cut && storableStatus(rec.Status())
	if storeKey == "" {
		return ok
	}
	if !ok || rec.Streamed() {
		g.release(r, storeKey, claim)
		return ok
	}
	ctx, cancel := g.storeContext(r)
	defer cancel()
	switch serr := g.store.Complete(ctx, storeKey, claim.Token, answerOf(rec), g.settings.DedupeTTL); {
	case serr == nil, errors.Is(serr, dedupe.ErrNotHeld):
	case errors.Is(serr, dedupe.ErrTooLarge):
		// The memory store's share is smaller than max_answer: the key is
		// released, as for an answer over max_answer.
	default:
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
