package dedupe_test

import (
	"testing"

	"github.com/callbackguard/callbackguard/caddymodule/dedupe"
	"github.com/callbackguard/callbackguard/caddymodule/dedupe/storetest"
)

// TestConformance runs the store suite on the memory store: one store per
// case, serving as both instances (an in-process store is shared by every
// guard of the process).
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (a, b dedupe.Store) {
		m := dedupe.NewMemory(dedupe.MemoryOptions{})
		t.Cleanup(m.Close)
		return m, m
	})
}
