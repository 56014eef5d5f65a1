// Command callbackbench measures what callback_guard costs inside Caddy.
//
// In one run it builds Caddy from this module (or takes --caddy), starts one
// Caddy process with one site per scenario, each on its own loopback port
// and all proxying to one fast upstream served by this process, and loads
// every scenario with the same keep-alive clients for the same time, round
// after round, rotating the order. Every request is a fresh delivery: a
// unique id in its JSON body, its own signed URL (the same request line in
// every scenario, so that only signed_url's checking of it counts), its own
// pre-signed JWT.
// It prints a table of the medians of the rounds (requests/s, p50, p99,
// Caddy's CPU per request from /proc, redis-server's from INFO cpu, and
// the ratios to plain reverse_proxy and to reverse_proxy adding the same
// seven X-Callback-* headers in the same round) and checks the project's
// performance goals.
//
//	go run ./cmd/callbackbench                                  # all scenarios, 9 rounds of 3 s
//	go run ./cmd/callbackbench --duration 2s --rounds 2 -v      # quicker, with each round's table
//	go run ./cmd/callbackbench --scenarios plain,headers,jwt_rs256 --cpuprofile jwt.pprof
//	go run ./cmd/callbackbench --scenarios plain,redis --redis-addr 10.0.0.5:6379
//	go run ./cmd/callbackbench store -n 1000000                 # the memory store's footprint
//	go run ./cmd/callbackbench store -redis -n 100000           # Redis memory per stored answer
//
// Scenarios: plain, headers, header_secret, basic_auth, signed_url,
// jwt_rs256, memory (header_secret + dedupe {json.id} in the memory store)
// and redis (the same in a redis-server this command starts, when one is
// on PATH and Caddy accepts the store, or in the Redis of --redis-addr).
// Caddy is built and run by internal/testcaddy, as in the end-to-end tests. The load generator and the
// upstream share the machine with Caddy, equally for every scenario; the
// "other load" column shows how busy other processes kept it. Signing one
// RS256 token per request takes about a millisecond of CPU each before the
// windows; --jwt-tokens 4096 uses a fixed set in turn for quicker runs.
// --cpuprofile adds an uncounted window of one scenario while Caddy's admin
// endpoint (/debug/pprof/profile) profiles it. The test runs a 200 ms
// version; `go test -short` skips it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "callbackbench:", err)
		os.Exit(1)
	}
}

// run is the whole command; the test calls it in-process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "store" {
		return runStore(args[1:], stdout, stderr)
	}
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	return runBench(ctx, o, stdout, stderr)
}

// options are the flags of the load benchmark.
type options struct {
	duration    time.Duration
	warmup      time.Duration
	rounds      int
	connections int
	scenarios   []string
	caddy       string
	redisServer string
	redisAddr   string
	jwtTokens   int
	verbose     bool
	strict      bool
	cpuprofile  string
	profileOf   string
	args        []string
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{args: args}
	fs := flag.NewFlagSet("callbackbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: callbackbench [flags]\n       callbackbench store [-n entries]\n\nflags:\n")
		fs.PrintDefaults()
	}
	fs.DurationVar(&o.duration, "duration", 3*time.Second, "load time per scenario per round; short windows keep the windows compared in a round close in time")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "load time per scenario of the warm-up round, not counted (capped at --duration; 0: none)")
	fs.IntVar(&o.rounds, "rounds", 9, "counted rounds; each starts one scenario later in the list")
	fs.IntVar(&o.connections, "connections", 16, "keep-alive connections per scenario, each a closed loop")
	scenarios := fs.String("scenarios", strings.Join(scenarioNames, ","), "comma-separated scenarios to run")
	fs.StringVar(&o.caddy, "caddy", "", "a Caddy binary with callback_guard (default: go build ./cmd/caddy of this module)")
	fs.StringVar(&o.redisServer, "redis-server", "redis-server", "the redis-server binary for the redis scenario")
	fs.StringVar(&o.redisAddr, "redis-addr", "", "a Redis of yours for the redis scenario, host:port or a redis:// URL (default: a redis-server started on loopback)")
	fs.IntVar(&o.jwtTokens, "jwt-tokens", 0, "distinct RS256 tokens, used in turn (0: one per request, signed before each window)")
	fs.BoolVar(&o.verbose, "v", false, "print each round's table too")
	fs.BoolVar(&o.strict, "strict", false, "exit with an error when a goal fails")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "save a CPU profile of Caddy, taken from its admin endpoint during an extra window of --profile-scenario")
	fs.StringVar(&o.profileOf, "profile-scenario", "", "the scenario of --cpuprofile (default: jwt_rs256 when it runs, else the last scenario)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q (the store mode is: callbackbench store -n N)", fs.Args())
	}
	if o.duration <= 0 || o.rounds < 1 || o.connections < 1 || o.warmup < 0 || o.jwtTokens < 0 {
		return nil, errors.New("--duration must be positive, --rounds and --connections at least 1, --warmup and --jwt-tokens not negative")
	}
	o.warmup = min(o.warmup, o.duration)
	seen := map[string]bool{}
	for _, name := range strings.Split(*scenarios, ",") {
		name = strings.TrimSpace(name)
		if name == "" || seen[name] {
			continue
		}
		if !isScenario(name) {
			return nil, fmt.Errorf("unknown scenario %q (want some of %s)", name, strings.Join(scenarioNames, ","))
		}
		seen[name] = true
		o.scenarios = append(o.scenarios, name)
	}
	if len(o.scenarios) == 0 {
		return nil, errors.New("no scenario to run")
	}
	if o.profileOf != "" && !seen[o.profileOf] {
		return nil, fmt.Errorf("--profile-scenario %q is not among --scenarios", o.profileOf)
	}
	if o.cpuprofile != "" && o.profileOf == "" {
		o.profileOf = o.scenarios[len(o.scenarios)-1]
		if seen["jwt_rs256"] {
			o.profileOf = "jwt_rs256"
		}
	}
	return o, nil
}
