package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/callbackguard/callbackguard/caddymodule/dedupe"
)

// runStore is `callbackbench store`: the memory store's footprint for n
// entries like the guard's (keys "payglocal:gl_<uuid>:SENT_FOR_CAPTURE",
// answers 200 with Content-Type, a Location naming the order and a
// 100-byte body), stored by Claim+Complete as the guard does; with -redis,
// the Redis store's (see runRedisStore).
func runStore(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("callbackbench store", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 1_000_000, "entries to store")
	bodySize := fs.Int("body", 100, "bytes of each answer's body")
	maxBytes := fs.Int64("max-bytes", 0, "the store's capacity (0: dedupe.DefaultMaxBytes, as in Caddy)")
	onRedis := fs.Bool("redis", false, "measure the Redis store instead: INFO memory of a redis-server this command starts, or of --redis-addr")
	redisAddr := fs.String("redis-addr", "", "with -redis: a Redis of yours, host:port or a redis:// URL (its keys are removed after)")
	redisServer := fs.String("redis-server", "redis-server", "with -redis: the redis-server binary")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 1 || *bodySize < 0 || fs.NArg() > 0 {
		return fmt.Errorf("store: want -n ≥ 1 and no other arguments")
	}
	if *onRedis {
		return runRedisStore(*n, *bodySize, *redisServer, *redisAddr, stdout)
	}
	fp, err := measureMemoryStore(*n, *bodySize, *maxBytes)
	if err != nil {
		return err
	}
	fp.write(stdout)
	return nil
}

// memoryFootprint is what filling the memory store cost.
type memoryFootprint struct {
	n, bodySize, kept int
	maxBytes          int64
	fill, gcTook      time.Duration // the filling, and a full GC after it
	heap              int64         // the growth of the heap in use
	rssBefore, rss    int64         // VmRSS before and after the filling
	rssReturned       int64         // VmRSS once freed pages are returned
}

// measureMemoryStore fills a memory store with n entries and measures the
// heap and the RSS it took.
func measureMemoryStore(n, bodySize int, maxBytes int64) (*memoryFootprint, error) {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	rssBefore, err := vmRSS()
	if err != nil {
		return nil, err
	}

	m := dedupe.NewMemory(dedupe.MemoryOptions{MaxBytes: maxBytes})
	defer m.Close()
	fill, err := fillMemoryStore(m, n, bodySize)
	if err != nil {
		return nil, err
	}

	runtime.GC()
	gcBegan := time.Now()
	runtime.GC()
	gcTook := time.Since(gcBegan)
	runtime.ReadMemStats(&after)
	rss, err := vmRSS()
	if err != nil {
		return nil, err
	}
	debug.FreeOSMemory()
	rssReturned, _ := vmRSS()
	fp := &memoryFootprint{
		n: n, bodySize: bodySize, kept: m.Len(), maxBytes: maxBytes,
		fill: fill, gcTook: gcTook,
		heap:      int64(after.HeapInuse) - int64(before.HeapInuse),
		rssBefore: rssBefore, rss: rss, rssReturned: rssReturned,
	}
	runtime.KeepAlive(m)
	return fp, nil
}

// fillMemoryStore stores n entries in m by Claim+Complete and says how long
// it took.
func fillMemoryStore(m *dedupe.Memory, n, bodySize int) (time.Duration, error) {
	ctx := context.Background()
	location := []string{""}
	ans := &dedupe.Answer{Status: 200, Header: http.Header{"Content-Type": {"application/json"}, "Location": location}}

	// The loop makes no garbage of its own, so that the footprint is the
	// store's: the key and the Location are views of reused buffers (the
	// store keeps a digest of the key and a copy of the answer, never them).
	const keyPrefix, keySuffix, locPrefix = "payglocal:gl_", ":SENT_FOR_CAPTURE", "/orders/gl_"
	keyBuf := []byte(keyPrefix + strings.Repeat("0", 36) + keySuffix)
	locBuf := []byte(locPrefix + strings.Repeat("0", 36))
	uuid := keyBuf[len(keyPrefix) : len(keyPrefix)+36]
	body := make([]byte, 0, bodySize)
	rng := rand.NewChaCha8([32]byte{7})
	var raw [16]byte
	began := time.Now()
	for range n {
		_, _ = rng.Read(raw[:])
		formatUUID(uuid, raw)
		copy(locBuf[len(locPrefix):], uuid)
		key := unsafe.String(&keyBuf[0], len(keyBuf))
		location[0] = unsafe.String(&locBuf[0], len(locBuf))
		body = append(body[:0], `{"gid":"gl_`...)
		body = append(body, uuid...)
		body = append(body, `","status":"SENT_FOR_CAPTURE","received":true}`...)
		for len(body) < bodySize {
			body = append(body, ' ')
		}
		ans.Body = body[:bodySize]
		c, err := m.Claim(ctx, key, time.Minute)
		if err != nil || c.State != dedupe.Claimed {
			return 0, fmt.Errorf("store: Claim: %v %v", c.State, err)
		}
		if err := m.Complete(ctx, key, c.Token, ans, 24*time.Hour); err != nil {
			return 0, fmt.Errorf("store: Complete: %v", err)
		}
	}
	return time.Since(began), nil
}

// write is the report of `callbackbench store`, with the verdict on the
// goal of a million entries in 256 MiB.
func (fp *memoryFootprint) write(stdout io.Writer) {
	perEntry := float64(fp.heap) / float64(max(fp.kept, 1))
	fmt.Fprintf(stdout, "# callbackbench store -n %d\n\n", fp.n)
	fmt.Fprintf(stdout, "- machine: %s, %d cores, %s\n", cpuModel(), runtime.NumCPU(), runtime.Version())
	fmt.Fprintf(stdout, "- entries: keys like payglocal:gl_<uuid>:SENT_FOR_CAPTURE; answers 200 with Content-Type, a 47-byte Location and a %d-byte body; Claim+Complete each\n", fp.bodySize)
	fmt.Fprintf(stdout, "- stored %d, kept %d (capacity %d MiB); filled in %v, %v per Claim+Complete\n",
		fp.n, fp.kept, capacity(fp.maxBytes)>>20, fp.fill.Round(time.Millisecond), (fp.fill / time.Duration(fp.n)).Round(10*time.Nanosecond))
	fmt.Fprintf(stdout, "- heap in use: +%.1f MiB, %.0f B per entry; a full GC with the store loaded took %v\n",
		mib(fp.heap), perEntry, fp.gcTook.Round(10*time.Microsecond))
	fmt.Fprintf(stdout, "- VmRSS: %.1f MiB (+%.1f MiB over the start); %.1f MiB once freed pages are returned\n",
		mib(fp.rss), mib(fp.rss-fp.rssBefore), mib(fp.rssReturned))

	const goalEntries, goalRSS = 1_000_000, 256 << 20
	est, what := fp.rss, "measured"
	if fp.n != goalEntries || fp.kept != fp.n {
		// The process's own RSS plus the store's growth, scaled to a million.
		est = fp.rssBefore + int64(float64(fp.rss-fp.rssBefore)*goalEntries/float64(max(fp.kept, 1)))
		what = fmt.Sprintf("estimated from %d entries", fp.kept)
	}
	verdict := "PASS"
	if est > goalRSS {
		verdict = "FAIL"
	}
	fmt.Fprintf(stdout, "\n| goal | measured | target | |\n| --- | ---: | --- | --- |\n")
	fmt.Fprintf(stdout, "| memory store RSS, 1 M entries with %d-byte answers | %.1f MiB (%s) | ≤ 256 MiB | %s |\n", fp.bodySize, mib(est), what, verdict)
}

func capacity(n int64) int64 {
	if n <= 0 {
		return dedupe.DefaultMaxBytes
	}
	return n
}

func formatUUID(dst []byte, b [16]byte) {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	hex.Encode(dst[0:8], b[0:4])
	dst[8] = '-'
	hex.Encode(dst[9:13], b[4:6])
	dst[13] = '-'
	hex.Encode(dst[14:18], b[6:8])
	dst[18] = '-'
	hex.Encode(dst[19:23], b[8:10])
	dst[23] = '-'
	hex.Encode(dst[24:], b[10:])
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// vmRSS is this process's resident set size, from /proc/self/status.
func vmRSS() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, err
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/self/status")
}
