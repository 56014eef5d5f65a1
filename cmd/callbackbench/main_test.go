package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestShortRun runs the benchmark in a very short mode (it builds Caddy,
// so it is skipped with -short): the command still starts Caddy and the
// upstream, loads a plain and a guarded route, and prints its tables.
func TestShortRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and loads Caddy; skipped with -short")
	}
	if runtime.GOOS != "linux" {
		t.Skip("reads Caddy's CPU time from /proc")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errs bytes.Buffer
	args := []string{"--duration", "200ms", "--warmup", "0", "--rounds", "1", "--connections", "4", "--scenarios", "plain,header_secret,redis"}
	if err := run(ctx, args, &out, &errs); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s\nstdout:\n%s", err, errs.String(), out.String())
	}
	wants := []string{"## Medians of 1 round(s)", "| plain | ", "| header_secret | ", "| header_secret ÷ plain |"}
	if _, err := exec.LookPath("redis-server"); err == nil {
		wants = append(wants, "| redis | ", "| redis-server CPU/delivery |", "redis: per delivery, redis-server ran 2.00 EVALSHA")
	}
	for _, want := range wants {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if testing.Verbose() {
		t.Logf("\n%s", out.String())
	}
}

// TestStoreMode fills a small memory store and reports its footprint.
func TestStoreMode(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("reads VmRSS from /proc")
	}
	var out, errs bytes.Buffer
	if err := run(context.Background(), []string{"store", "-n", "20000"}, &out, &errs); err != nil {
		t.Fatalf("store: %v\n%s", err, errs.String())
	}
	for _, want := range []string{"stored 20000, kept 20000", "B per entry", "VmRSS:", "| memory store RSS, 1 M entries"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestRedisStoreMode stores a few thousand answers in a redis-server of
// its own and reports the memory per answer.
func TestRedisStoreMode(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("no redis-server")
	}
	var out, errs bytes.Buffer
	if err := run(context.Background(), []string{"store", "-redis", "-n", "3000"}, &out, &errs); err != nil {
		t.Fatalf("store -redis: %v\n%s", err, errs.String())
	}
	if !regexp.MustCompile(`used_memory: \+[0-9.]+ MiB, [0-9]{3} B per stored answer`).MatchString(out.String()) {
		t.Errorf("output:\n%s", out.String())
	}
}

// TestFlags rejects what cannot run.
func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--scenarios", "plain,nope"},
		{"--rounds", "0"},
		{"--duration", "0s"},
		{"--scenarios", "plain", "--profile-scenario", "jwt_rs256"},
		{"extra"},
	} {
		if _, err := parseFlags(args, new(bytes.Buffer)); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
	o, err := parseFlags([]string{"--scenarios", "plain, headers,plain", "--cpuprofile", "x.pprof"}, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(o.scenarios, ",") != "plain,headers" || o.profileOf != "headers" {
		t.Errorf("scenarios %q, profile of %q", o.scenarios, o.profileOf)
	}
}
