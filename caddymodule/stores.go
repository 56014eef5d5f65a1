package caddymodule

import (
	"fmt"

	"github.com/caddyserver/caddy/v2"

	"github.com/callbackguard/callbackguard/caddymodule/dedupe"
	"github.com/callbackguard/callbackguard/config"
)

// stores holds the deduplication stores of this process. They live across
// config reloads: a reload provisions the new guards (taking a reference)
// before cleaning up the old ones (dropping theirs), so the keys survive.
var stores = caddy.NewUsagePool()

// memoryStoreName is the pool key of the one memory store of the process,
// shared by every guard (keys are scoped by preset).
const memoryStoreName = "memory"

// pooledMemory makes the memory store a caddy.Destructor.
type pooledMemory struct{ *dedupe.Memory }

func (m pooledMemory) Destruct() error {
	m.Memory.Close()
	return nil
}

func (g *Handler) openStore(s *config.Settings) error {
	switch s.Store.Kind {
	case config.StoreMemory:
		v, _, err := stores.LoadOrNew(memoryStoreName, func() (caddy.Destructor, error) {
			return pooledMemory{dedupe.NewMemory(dedupe.MemoryOptions{MaxBytes: s.Store.MaxBytes})}, nil
		})
		if err != nil {
			return err
		}
		m := v.(pooledMemory)
		if s.Store.MaxBytes > 0 {
			m.SetMaxBytes(s.Store.MaxBytes)
		}
		g.store, g.storeName = m.Memory, memoryStoreName
		return nil
	default:
		return fmt.Errorf("store %q is not available in this build", s.Store.Kind)
	}
}

func (g *Handler) closeStore() error {
	if g.storeName == "" {
		return nil
	}
	_, err := stores.Delete(g.storeName)
	g.storeName, g.store = "", nil
	return err
}
