package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callbackguard/callbackguard/caddymodule/dedupe"
	"github.com/callbackguard/callbackguard/caddymodule/redisstore"
)

// runRedisStore is `callbackbench store -redis`: what n answers like the
// memory mode's cost in Redis (INFO memory's used_memory before and after),
// stored by the Redis store's Claim+Complete as the guard does, under a
// prefix of their own that is removed afterwards.
func runRedisStore(n, bodySize int, bin, addr string, stdout io.Writer) error {
	dir, err := os.MkdirTemp("", "callbackbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	r, err := openRedis(context.Background(), bin, addr, dir)
	if err != nil {
		return err
	}
	defer r.close()
	// The guard's prefix on a redis-server of this command's; on the
	// user's, one of the same length that no one else uses.
	prefix := redisstore.DefaultPrefix
	if r.local == nil {
		var raw [4]byte
		_, _ = rand.NewChaCha8([32]byte{byte(time.Now().UnixNano())}).Read(raw[:])
		prefix = "cbench" + hex.EncodeToString(raw[:]) + ":"
	}
	store, err := redisstore.Open(r.url, redisstore.Options{Prefix: prefix, CallTimeout: 5 * time.Second})
	if err != nil {
		return err
	}
	defer store.Close()
	defer r.removeKeys(prefix)

	before, err := r.usedMemory()
	if err != nil {
		return err
	}
	began := time.Now()
	if err := fillRedis(store, n, bodySize); err != nil {
		return err
	}
	fill := time.Since(began)
	after, err := r.usedMemory()
	if err != nil {
		return err
	}
	per := float64(after-before) / float64(n)
	fmt.Fprintf(stdout, "# callbackbench store -redis -n %d\n\n", n)
	fmt.Fprintf(stdout, "- Redis at %s, keys under %q\n", r.addr(), prefix)
	fmt.Fprintf(stdout, "- entries: keys like payglocal:gl_<uuid>:SENT_FOR_CAPTURE; answers 200 with Content-Type, a 47-byte Location and a %d-byte body; Claim+Complete each, 32 at a time\n", bodySize)
	fmt.Fprintf(stdout, "- stored %d in %v (%.0f deliveries/s)\n", n, fill.Round(time.Millisecond), float64(n)/fill.Seconds())
	fmt.Fprintf(stdout, "- used_memory: +%.1f MiB, %.0f B per stored answer\n", mib(after-before), per)
	return nil
}

// fillRedis stores n answers, 32 deliveries at a time.
func fillRedis(store *redisstore.Store, n, bodySize int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.NewChaCha8([32]byte{byte(w)})
			ctx := context.Background()
			uuid := make([]byte, 36)
			for next.Add(1) <= int64(n) {
				var raw [16]byte
				_, _ = rng.Read(raw[:])
				formatUUID(uuid, raw)
				key := "payglocal:gl_" + string(uuid) + ":SENT_FOR_CAPTURE"
				body := []byte(`{"gid":"gl_` + string(uuid) + `","status":"SENT_FOR_CAPTURE","received":true}`)
				for len(body) < bodySize {
					body = append(body, ' ')
				}
				ans := &dedupe.Answer{Status: 200, Header: http.Header{
					"Content-Type": {"application/json"}, "Location": {"/orders/gl_" + string(uuid)},
				}, Body: body[:bodySize]}
				c, err := store.Claim(ctx, key, time.Minute)
				if err == nil && c.State != dedupe.Claimed {
					err = fmt.Errorf("claim: %v", c.State)
				}
				if err == nil {
					err = store.Complete(ctx, key, c.Token, ans, 24*time.Hour)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// removeKeys deletes the keys under prefix (SCAN and UNLINK).
func (r *redisTarget) removeKeys(prefix string) {
	ctx := context.Background()
	var cursor uint64
	for {
		entry, err := r.client.Do(ctx, r.client.B().Scan().Cursor(cursor).Match(prefix+"*").Count(1000).Build()).AsScanEntry()
		if err != nil {
			return
		}
		if len(entry.Elements) > 0 {
			r.client.Do(ctx, r.client.B().Unlink().Key(entry.Elements...).Build())
		}
		if cursor = entry.Cursor; cursor == 0 {
			return
		}
	}
}
