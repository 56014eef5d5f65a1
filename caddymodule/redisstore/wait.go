package redisstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/rueidis"
)

// Wait implements dedupe.Store.
//
// A duplicate waits here while another instance forwards the first
// delivery. It wakes in four ways:
//
//   - Pub/Sub: Complete and Release of a watched claim publish the key on
//     the channel Prefix+"done"; each Store has one subscriber that fans
//     the message out to its local waiters, so a wait costs no connection
//     of its own. This is the fast path: a waiter at instance B wakes
//     within a round trip of A's answer.
//   - Resubscription: when the subscriber's connection was lost and is
//     back, every wait looks at its key again at once, since wake-ups
//     published in between are lost.
//   - Polling: every PollInterval it looks at the key again, which covers
//     what the two above miss (a subscriber that is still reconnecting),
//     and the end of a claim whose holder died: it never sleeps past the
//     claim's remaining time, so an abandoned claim ends the wait on time.
//   - ctx: it returns ctx.Err().
//
// Like the memory store, it answers from the key's state before it looks at
// ctx: a key that is not held returns nil even with ctx done. A Redis error
// (the key could not be looked at) is returned as it is.
func (s *Store) Wait(ctx context.Context, key string) error {
	keys, err := s.keys(key)
	if err != nil {
		return err
	}
	rkey := keys[0]
	// Registered before the first look, so that a wake-up published
	// between the look and the select below is not missed.
	w, resubscribed := s.waiters.add(rkey)
	defer s.waiters.remove(rkey, w)
	var timer *time.Timer
	for {
		left, err := s.watch(ctx, rkey)
		if err != nil {
			return err
		}
		if left <= 0 {
			return nil
		}
		d := min(s.poll, left)
		if timer == nil {
			timer = time.NewTimer(d)
			defer timer.Stop()
		} else {
			timer.Reset(d)
		}
		select {
		case <-w.woken:
			return nil
		case <-resubscribed:
			resubscribed = s.waiters.resubscription()
		case <-timer.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// watch runs watchScript: the time left on the claim of the entry rkey
// (0: not held). It runs even when ctx is done (see Wait), bounded by
// CallTimeout.
func (s *Store) watch(ctx context.Context, rkey string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	msg, err := s.run(ctx, watchScript, []string{rkey})
	if err != nil {
		return 0, fmt.Errorf("redisstore: wait: %w", err)
	}
	ms, err := msg.AsInt64()
	if err != nil {
		return 0, fmt.Errorf("redisstore: wait: unexpected reply: %w", err)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// resubscribeDelay is the pause between two subscriptions when one ended
// (the connection was lost, or the client could not be made yet).
const resubscribeDelay = 100 * time.Millisecond

// subscribe receives the wake-ups for this Store's waiters until Close.
// When the connection is lost it subscribes again; each (re)subscription
// is confirmed by the server, after the first of which the waits look
// again (see Wait).
func (s *Store) subscribe() {
	defer close(s.closed)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.closing:
			cancel() // ends a subscription, or a connection attempt
		case <-ctx.Done():
		}
	}()
	confirmed := rueidis.WithOnSubscriptionHook(ctx, func(sub rueidis.PubSubSubscription) {
		if sub.Kind == "subscribe" && s.subscriptions.Add(1) > 1 {
			s.waiters.resubscribed()
		}
	})
	for {
		if client, err := s.conn.get(ctx); err == nil {
			_ = client.Receive(confirmed, client.B().Subscribe().Channel(s.channel).Build(), func(m rueidis.PubSubMessage) {
				s.waiters.wake(m.Message)
			})
		}
		select {
		case <-s.closing:
			return
		case <-time.After(resubscribeDelay):
		}
	}
}

// waiters are the local waits, by Redis key. Waits on one key share one
// channel, closed by the wake-up.
type waiters struct {
	mu sync.Mutex
	m  map[string]*waiter
	// resub is closed, and replaced, when the subscriber resubscribed.
	resub chan struct{}
}

type waiter struct {
	woken chan struct{}
	n     int // waits holding it
}

// add registers a wait on rkey; it returns the waiter and the channel that
// announces the next resubscription.
func (ws *waiters) add(rkey string) (*waiter, <-chan struct{}) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	w := ws.m[rkey]
	if w == nil {
		w = &waiter{woken: make(chan struct{})}
		ws.m[rkey] = w
	}
	w.n++
	return w, ws.resub
}

func (ws *waiters) remove(rkey string, w *waiter) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	w.n--
	if w.n == 0 && ws.m[rkey] == w {
		delete(ws.m, rkey)
	}
}

// wake ends the waits on rkey. Later waits get a new channel: they look at
// the key themselves before they block.
func (ws *waiters) wake(rkey string) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if w := ws.m[rkey]; w != nil {
		close(w.woken)
		delete(ws.m, rkey)
	}
}

func (ws *waiters) resubscribed() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	close(ws.resub)
	ws.resub = make(chan struct{})
}

func (ws *waiters) resubscription() <-chan struct{} {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return ws.resub
}
