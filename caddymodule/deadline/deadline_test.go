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
	rec := NewRecorder()
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
	rec := NewRecorder()
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
	rec := NewRecorder()
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
	other := NewRecorder()
	defer other.Release()
	_, _ = other.Write([]byte("x"))
	if other.Status() != 200 {
		t.Fatalf("implicit status %d", other.Status())
	}
}

func TestDetach(t *testing.T) {
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "kept"))
	r := httptest.NewRequest("POST", "/", nil).WithContext(ctx)
	fr, stop := Detach(r, time.Now().Add(time.Hour))
	defer stop()
	cancel() // the provider hangs up
	if fr.Context().Err() != nil {
		t.Fatal("the forward was cancelled with the provider's connection")
	}
	if fr.Context().Value(ctxKey{}) != "kept" {
		t.Fatal("request values lost")
	}
	fr2, stop2 := Detach(r, time.Now().Add(10*time.Millisecond))
	defer stop2()
	<-fr2.Context().Done()
	if fr2.Context().Err() != context.DeadlineExceeded {
		t.Fatal("upstream_timeout not applied")
	}
}

// A pooled recorder reuses its timer, and one whose timer may still fire
// never answers the next request.
func TestRecorderReuse(t *testing.T) {
	for i := range 50 {
		w := httptest.NewRecorder()
		rec := NewRecorder()
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
	rec := NewRecorder()
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
