package deadline

import (
	"bytes"
	"errors"
	"net/http"
	"sync"
)

// Recorder buffers the answer of the next handler, so that it can be
// written to the client if it comes in time, stored for replay, or both.
// It is what the next handler writes to: never the client's writer.
//
// An answer larger than the recorder's limit is not buffered whole: once
// it passes the limit, the recorder takes the client's writer from the
// gate and streams the answer on (it is then neither stored nor held in
// memory); if the deadline has already answered the client, the rest is
// refused with ErrTooLarge.
type Recorder struct {
	header      http.Header
	status      int
	wroteHeader bool
	body        bytes.Buffer
	limit       int
	streaming   bool
	gate        Gate
}

// ErrTooLarge is what a Recorder's Write returns for an answer over its
// limit that has nowhere to go: the deadline already answered the client.
var ErrTooLarge = errors.New("answer over max_answer after the deadline answered")

var recorders = sync.Pool{New: func() any { return &Recorder{header: make(http.Header, 8)} }}

// NewRecorder returns an empty Recorder from a pool, buffering answers of
// up to limit bytes (0: no limit); Release returns it.
func NewRecorder(limit int) *Recorder {
	r := recorders.Get().(*Recorder)
	r.limit = limit
	return r
}

// Release empties the recorder and puts it back in the pool. Nothing of it
// may be used afterwards.
func (r *Recorder) Release() {
	if r.body.Cap() > 64<<10 {
		return // let big buffers go rather than pin them
	}
	if r.gate.armed {
		r.gate.mu.Lock()
		reusable := r.gate.reusable
		r.gate.armed, r.gate.w, r.gate.answer, r.gate.onFire = false, nil, nil, nil
		r.gate.mu.Unlock()
		if !reusable {
			return // its timer may still fire: leave it to the collector
		}
	}
	clear(r.header)
	r.status, r.wroteHeader, r.streaming = 0, false, false
	r.body.Reset()
	recorders.Put(r)
}

// Header is the header map of the buffered answer.
func (r *Recorder) Header() http.Header { return r.header }

// WriteHeader records the status. 1xx informational answers are not the
// answer and are dropped (the provider gets the final one).
func (r *Recorder) WriteHeader(code int) {
	if r.wroteHeader || (code >= 100 && code < 200 && code != http.StatusSwitchingProtocols) {
		return
	}
	r.status, r.wroteHeader = code, true
}

// Write buffers body bytes, up to the limit; past it, the answer streams
// to the client.
func (r *Recorder) Write(p []byte) (int, error) {
	if !r.wroteHeader {
		r.WriteHeader(http.StatusOK)
	}
	switch {
	case r.streaming:
		return r.gate.w.Write(p)
	case r.limit > 0 && r.body.Len()+len(p) > r.limit:
		return r.overflow(p)
	}
	return r.body.Write(p)
}

// overflow starts streaming an answer that is over the limit: the status,
// the headers and what was buffered, then p.
func (r *Recorder) overflow(p []byte) (int, error) {
	if !r.gate.armed || !r.gate.Take() {
		return 0, ErrTooLarge
	}
	r.streaming = true
	w := r.gate.w
	h := w.Header()
	for k, v := range r.header {
		h[k] = v
	}
	w.WriteHeader(r.status)
	if r.body.Len() > 0 {
		if _, err := w.Write(r.body.Bytes()); err != nil {
			return 0, err
		}
		r.body.Reset()
	}
	return w.Write(p)
}

// Flush passes a flush on to the client once the answer streams; before
// that the answer is sent whole, once known. It exists so that
// reverse_proxy's flushes find a Flusher.
func (r *Recorder) Flush() {
	if r.streaming {
		_ = http.NewResponseController(r.gate.w).Flush()
	}
}

// Streamed reports whether the answer went over the limit and was streamed
// to the client: it was not buffered, and cannot be stored.
func (r *Recorder) Streamed() bool { return r.streaming }

// Status is the recorded status, 0 when nothing was written.
func (r *Recorder) Status() int { return r.status }

// Body is the buffered body; valid until Release.
func (r *Recorder) Body() []byte { return r.body.Bytes() }

// Wrote reports whether the next handler wrote an answer.
func (r *Recorder) Wrote() bool { return r.wroteHeader }

// WriteTo sends the buffered answer to the client (a streamed one is
// there already).
func (r *Recorder) WriteTo(w http.ResponseWriter) {
	if r.streaming {
		return
	}
	h := w.Header()
	for k, v := range r.header {
		h[k] = v
	}
	w.WriteHeader(r.status)
	if r.body.Len() > 0 {
		_, _ = w.Write(r.body.Bytes())
	}
}
