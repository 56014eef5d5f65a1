package deadline

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestGateTimerAnswersWhenHandlerIsLate(t *testing.T) {
	w := httptest.NewRecorder()
	rec := NewRecorder(0)
	g := rec.Arm(w, time.Now().Add(20*time.Millisecond), &Answer{Status: 504, Body: []byte("late"), ContentType: "text/plain"}, nil)
	time.Sleep(60 * time.Millisecond)
	if g.Take() {
		t.Fatal("the handler took the writer after the deadline answered")
	}
	if !g.TimedOut() || w.Code != 504 || w.Body.String() != "late" || w.Header().Get("Connection") != "close" || w.Header().Get("Content-Length") != "4" {
		t.Fatalf("on_timeout answer: %d %q %v", w.Code, w.Body.String(), w.Header())
	}
}

func TestGateHandlerFirstStopsTimer(t *testing.T) {
	w := httptest.NewRecorder()
	rec := NewRecorder(0)
	g := rec.Arm(w, time.Now().Add(20*time.Millisecond), &Answer{Status: 504}, nil)
	if !g.Take() {
		t.Fatal("handler could not take the writer before the deadline")
	}
	time.Sleep(50 * time.Millisecond)
	if g.TimedOut() || w.Code != 200 || w.Body.Len() != 0 || len(w.Header()) != 0 {
		t.Fatalf("the timer wrote after the handler took the writer: %d %v", w.Code, w.Header())
	}
}

func TestRecorder(t *testing.T) {
	rec := NewRecorder(0)
	defer rec.Release()
	rec.WriteHeader(103) // informational: not the answer
	rec.Header().Set("Content-Type", "text/html")
	rec.Header().Set("Location", "/thanks")
	rec.WriteHeader(303)
	rec.WriteHeader(500) // ignored: the status is set
	_, _ = rec.Write([]byte("see other"))
	w := httptest.NewRecorder()
	rec.WriteTo(w)
	if w.Code != 303 || w.Body.String() != "see other" || w.Header().Get("Location") != "/thanks" {
		t.Fatalf("%d %q %v", w.Code, w.Body.String(), w.Header())
	}
	other := NewRecorder(0)
	defer other.Release()
	_, _ = other.Write([]byte("x"))
	if other.Status() != 200 {
		t.Fatalf("implicit status %d", other.Status())
	}
}

func TestForwardOfAKeptDeliveryOutlivesItsClient(t *testing.T) {
	f := NewForwards(1)
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "kept"))
	r := httptest.NewRequest("POST", "/", nil).WithContext(ctx)
	fw := f.Start(r, time.Now().Add(time.Hour), true, false)
	cancel() // the provider hangs up
	waitFor(t, func() bool { return f.Kept() == 1 })
	if fw.Request.Context().Err() != nil || fw.Cut() {
		t.Fatal("the kept forward was cancelled with the provider's connection")
	}
	if fw.Request.Context().Value(ctxKey{}) != "kept" {
		t.Fatal("request values lost")
	}
	// The bound is reached: the next kept forward ends with its client.
	ctx2, cancel2 := context.WithCancel(context.Background())
	over := f.Start(httptest.NewRequest("POST", "/", nil).WithContext(ctx2), time.Now().Add(time.Hour), true, true)
	cancel2()
	waitFor(t, func() bool { return over.Cut() })
	over.End()
	fw.End()
	if f.Kept() != 0 {
		t.Fatalf("%d forwards still counted after their end", f.Kept())
	}
}

func TestForwardEndsWithItsClientUnlessKept(t *testing.T) {
	f := NewForwards(10)
	ctx, cancel := context.WithCancel(context.Background())
	fw := f.Start(httptest.NewRequest("POST", "/", nil).WithContext(ctx), time.Now().Add(time.Hour), false, false)
	cancel()
	if !fw.Cut() || f.Kept() != 0 {
		t.Fatal("a forward that is not kept outlived its client")
	}
	fw.End()
	timed := f.Start(httptest.NewRequest("POST", "/", nil), time.Now().Add(10*time.Millisecond), true, false)
	<-timed.Request.Context().Done()
	if timed.Request.Context().Err() != context.DeadlineExceeded || !timed.Cut() {
		t.Fatal("upstream_timeout not applied")
	}
	timed.End()
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 200 {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("condition not reached in 1s")
}

// An answer over the limit streams to the client before it ends; after the
// deadline answered, it is refused.
func TestRecorderStreamsAnAnswerOverItsLimit(t *testing.T) {
	w := httptest.NewRecorder()
	rec := NewRecorder(4)
	g := rec.Arm(w, time.Now().Add(time.Hour), &Answer{Status: 504}, nil)
	rec.Header().Set("Content-Type", "text/plain")
	rec.WriteHeader(201)
	_, _ = rec.Write([]byte("abc"))
	if w.Body.Len() != 0 {
		t.Fatal("an answer under the limit was not buffered")
	}
	if _, err := rec.Write([]byte("defgh")); err != nil {
		t.Fatal(err)
	}
	if !rec.Streamed() || w.Code != 201 || w.Body.String() != "abcdefgh" || w.Header().Get("Content-Type") != "text/plain" {
		t.Fatalf("streamed %v: %d %q %v", rec.Streamed(), w.Code, w.Body.String(), w.Header())
	}
	if !g.Take() {
		t.Fatal("the handler lost the writer the recorder took")
	}
	rec.WriteTo(w) // a no-op: the answer is there already
	if w.Body.String() != "abcdefgh" {
		t.Fatalf("written twice: %q", w.Body.String())
	}
	rec.Release()

	late := httptest.NewRecorder()
	rec = NewRecorder(4)
	g = rec.Hold(late)
	if !g.Expire() {
		t.Fatal("expire")
	}
	if _, err := rec.Write([]byte("too large")); err != ErrTooLarge || late.Body.Len() != 0 {
		t.Fatalf("after the deadline: %v, client got %q", err, late.Body.String())
	}
}

// A pooled recorder reuses its timer, and one whose timer may still fire
// never answers the next request.
func TestRecorderReuse(t *testing.T) {
	for i := range 50 {
		w := httptest.NewRecorder()
		rec := NewRecorder(0)
		g := rec.Arm(w, time.Now().Add(time.Duration(i%3)*time.Millisecond), &Answer{Status: 504}, nil)
		time.Sleep(time.Millisecond)
		if g.Take() {
			rec.WriteHeader(200)
			rec.WriteTo(w)
		}
		rec.Release()
		if w.Code != 200 && w.Code != 504 {
			t.Fatalf("round %d: %d", i, w.Code)
		}
	}
	w := httptest.NewRecorder()
	rec := NewRecorder(0)
	g := rec.Arm(w, time.Now().Add(time.Hour), &Answer{Status: 504}, nil)
	if !g.Take() {
		t.Fatal("take")
	}
	rec.Release()
	time.Sleep(5 * time.Millisecond)
	if len(w.Header()) != 0 {
		t.Fatal("a released recorder's timer wrote")
	}
}

type ctxKey struct{}

var _ http.Flusher = (*Recorder)(nil)
