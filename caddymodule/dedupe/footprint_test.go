package dedupe

import (
	"bufio"
	"context"
	"encoding/hex"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// TestMemoryFootprint measures what a million stored answers cost: keys like
// the guard's ("payglocal:gl_<uuid>:SENT_FOR_CAPTURE"), answers with a
// 100-byte body, Content-Type and a Location naming the order. It is slow
// and allocates several hundred megabytes, so it runs only with
// DEDUPE_FOOTPRINT=1 (DEDUPE_FOOTPRINT_N changes the count):
//
//	DEDUPE_FOOTPRINT=1 go test -run TestMemoryFootprint -v ./caddymodule/dedupe/
func TestMemoryFootprint(t *testing.T) {
	if os.Getenv("DEDUPE_FOOTPRINT") != "1" {
		t.Skip("set DEDUPE_FOOTPRINT=1 to measure the memory store's footprint")
	}
	n := 1_000_000
	if s := os.Getenv("DEDUPE_FOOTPRINT_N"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatal(err)
		}
	}

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	rssBefore := vmRSS(t)

	m := NewMemory(MemoryOptions{}) // DefaultMaxBytes: a million must fit
	defer m.Close()
	ctx := context.Background()
	location := []string{""}
	ans := &Answer{
		Status: 200,
		Header: http.Header{"Content-Type": {"application/json"}, "Location": location},
	}
	// The loop makes no garbage of its own, so that the RSS is the store's:
	// the key and the Location value are views of reused buffers (the store
	// hashes the key and copies the answer; it keeps neither).
	const keyPrefix, keySuffix, locPrefix = "payglocal:gl_", ":SENT_FOR_CAPTURE", "/orders/gl_"
	keyBuf := []byte(keyPrefix + strings.Repeat("0", 36) + keySuffix)
	locBuf := []byte(locPrefix + strings.Repeat("0", 36)) // 47 bytes
	uuid := keyBuf[len(keyPrefix) : len(keyPrefix)+36]
	body := make([]byte, 0, 100)
	rng := rand.NewChaCha8([32]byte{1})
	var uuidBytes [16]byte
	began := time.Now()
	for range n {
		_, _ = rng.Read(uuidBytes[:])
		formatUUID(uuid, uuidBytes)
		copy(locBuf[len(locPrefix):], uuid)
		key := unsafe.String(&keyBuf[0], len(keyBuf))
		location[0] = unsafe.String(&locBuf[0], len(locBuf))
		body = append(body[:0], `{"gid":"gl_`...)
		body = append(body, uuid...)
		body = append(body, `","status":"SENT_FOR_CAPTURE","received":true}`...)
		for len(body) < 100 {
			body = append(body, ' ')
		}
		ans.Body = body
		c, err := m.Claim(ctx, key, time.Minute)
		if err != nil || c.State != Claimed {
			t.Fatalf("Claim: %v %v", c.State, err)
		}
		if err := m.Complete(ctx, key, c.Token, ans, 24*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	fill := time.Since(began)

	runtime.GC()
	gcBegan := time.Now()
	runtime.GC()
	gcTook := time.Since(gcBegan)
	runtime.ReadMemStats(&after)
	rssAfter := vmRSS(t)

	debug.FreeOSMemory()
	rssReturned := vmRSS(t)

	var arenaCap, arenaLen, indexBytes int64
	for i := range m.shards {
		for _, c := range m.shards[i].chunks {
			arenaCap += int64(cap(c.buf))
			arenaLen += int64(len(c.buf))
		}
		indexBytes += m.shards[i].idx.bytes()
	}
	kept := m.Len()
	heap := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("%d answers stored, %d kept (MaxBytes %d MiB), filled in %v (%v per claim+complete)",
		n, kept, DefaultMaxBytes>>20, fill.Round(time.Millisecond), fill/time.Duration(n))
	t.Logf("record: %d bytes each (answer encoding %d); arena %.1f MiB used of %.1f MiB in chunks",
		arenaLen/int64(n), encodedAnswerLen(ans), mib(arenaLen), mib(arenaCap))
	t.Logf("heap in use: +%.1f MiB = %d B per entry (arena chunks %d, index %.1f, the rest %.1f)",
		mib(heap), heap/int64(kept), arenaCap/int64(kept), float64(indexBytes)/float64(kept),
		float64(heap-arenaCap-indexBytes)/float64(kept))
	t.Logf("RSS: %.1f MiB total after filling (+%.1f MiB), %.1f MiB once freed pages are returned (debug.FreeOSMemory)",
		mib(rssAfter), mib(rssAfter-rssBefore), mib(rssReturned))
	t.Logf("a full GC with the store loaded took %v; heap objects %d", gcTook, after.HeapObjects)
	if kept != n {
		t.Errorf("only %d of %d answers kept within DefaultMaxBytes", kept, n)
	}
	runtime.KeepAlive(m)
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

// vmRSS reads the process's resident set size from /proc/self/status.
func vmRSS(t *testing.T) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}
