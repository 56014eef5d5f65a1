//go:build unix

package redistest

import "testing"

func TestPauseResume(t *testing.T) {
	s := Start(t)
	s.Pause(t)
	if err := ping(s.Addr, nil); err == nil {
		t.Fatal("a paused server answered")
	}
	s.Resume(t)
	mustPing(t, s, nil)
}
