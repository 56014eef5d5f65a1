// Package deadline makes sure a payment provider gets an answer within its
// response deadline, whatever the backend does, without cutting off the
// forward: the backend's answer is buffered in a Recorder, a Gate hands the
// client's writer to the answer or to the on_timeout answer at the
// deadline, whichever comes first, and a Forward may run on past its
// client (within a bound, Forwards) so that a late answer can still be
// kept. An answer too large to buffer streams to the client instead.
//
// Over HTTP/1 everything runs in the handler's own goroutine except the
// timer's callback, which writes to the client's writer only while the
// handler is still inside ServeHTTP (the handler waits for the forward),
// under the Gate's lock. Nothing writes to the client after ServeHTTP
// returns.
package deadline

import (
	"net/http"
	"strconv"
	"sync"
	"time"
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
	timed  bool   // the gate's timer runs (Arm), not the handler's (Hold)
	// reusable is false when the timer's callback may still run: the
	// Recorder must then not go back to the pool, or the callback could
	// answer another request.
	reusable bool
}

// Arm starts the deadline on the recorder's gate: at `at`, unless Take was
// called first, answer is written to w, the connection is marked to close,
// and the answer is flushed. For HTTP/1, where the handler goes on running
// the forward after the client got its answer.
func (r *Recorder) Arm(w http.ResponseWriter, at time.Time, answer *Answer, onFire func()) *Gate {
	g := r.Hold(w)
	g.answer, g.onFire, g.timed, g.reusable = answer, onFire, true, false
	if g.timer == nil {
		g.timer = time.AfterFunc(time.Until(at), g.fire)
	} else {
		g.timer.Reset(time.Until(at))
	}
	return g
}

// Hold puts w behind the recorder's gate without a timer: the handler
// keeps the deadline itself and calls Expire when it passes. For HTTP/2
// and HTTP/3, whose streams end only when the handler returns.
func (r *Recorder) Hold(w http.ResponseWriter) *Gate {
	g := &r.gate
	g.state, g.w, g.answer, g.onFire, g.armed, g.reusable, g.timed = pending, w, nil, nil, true, true, false
	return g
}

// Expire claims the writer for the deadline's answer, which the caller
// then writes. It returns false when the handler (or a recorder streaming
// an answer) has taken the writer first.
func (g *Gate) Expire() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state != pending {
		return false
	}
	g.state = timedOut
	return true
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
	g.stopTimer()
}

// stopTimer stops the timer, if there is one, and notes whether the
// recorder may go back to the pool: not while the callback may still run.
func (g *Gate) stopTimer() {
	if g.timed {
		g.reusable = g.timer.Stop()
	}
}

// Take claims the writer for the handler. It returns false when the
// deadline has already answered the client: the handler must then not
// write anything.
func (g *Gate) Take() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch g.state {
	case timedOut:
		g.reusable = true // the callback has run to its end
		return false
	case answered:
		return true
	}
	g.state = answered
	g.stopTimer()
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
