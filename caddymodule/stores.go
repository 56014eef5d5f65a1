package caddymodule

import (
	"fmt"

	"github.com/caddyserver/caddy/v2"

	"github.com/callbackguard/callbackguard/caddymodule/dedupe"
	"github.com/callbackguard/callbackguard/caddymodule/redisstore"
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
	case config.StoreRedis:
		// One client and store per URL, shared by the guards that name it
		// and kept across reloads.
		name := "redis|" + s.Store.URL
		v, _, err := stores.LoadOrNew(name, func() (caddy.Destructor, error) {
			// The client's failed dials go to Caddy's log, at DEBUG: the
			// guard itself logs and counts each failed store call at WARN.
			st, err := redisstore.Open(s.Store.URL, redisstore.Options{Logger: caddy.Log().Named("callback_guard.redis")})
			if err != nil {
				return nil, err
			}
			return pooledRedis{st}, nil
		})
		if err != nil {
			return err
		}
		g.store, g.storeName, g.storeBlocks = v.(pooledRedis).Store, name, true
		return nil
	default:
		return fmt.Errorf("unknown store %q", s.Store.Kind)
	}
}

// pooledRedis makes a Redis store a caddy.Destructor.
type pooledRedis struct{ *redisstore.Store }

func (p pooledRedis) Destruct() error {
	p.Store.Close()
	return nil
}

// checkStore checks the store's configuration without opening it, for a
// guard that does not deduplicate: a bad Redis URL fails the load (and
// `caddy validate`) all the same, before a later edit adds a dedupe line.
func checkStore(s *config.Settings) error {
	if s.Store.Kind == config.StoreRedis {
		_, err := redisstore.ParseURL(s.Store.URL)
		return err
	}
	return nil
}

func (g *Handler) closeStore() error {
	if g.storeName == "" {
		return nil
	}
	// g.store stays: a forward of this config may still be running after
	// a reload, and must complete or release its key. A store destroyed
	// meanwhile (the last user gone) answers with errors, not panics.
	_, err := stores.Delete(g.storeName)
	g.storeName = ""
	return err
}
