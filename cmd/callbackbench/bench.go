package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/callbackguard/callbackguard/internal/testcaddy"
)

// bench is one run of the load benchmark.
type bench struct {
	o       *options
	scs     []*scenario // in the order of --scenarios
	clients map[string][]*http.Client
	caddy   *testcaddy.Process
	redis   *redisTarget
	// redisStats are redis-server's command counts and times over the
	// redis scenario's counted windows.
	redisStats commandStats
	tokens     *tokenPool
	machine    machine
	notes      []string
}

func (b *bench) note(format string, args ...any) {
	b.notes = append(b.notes, fmt.Sprintf(format, args...))
}

// runBench is `callbackbench` itself: it starts the upstream, the stores
// and Caddy, checks every scenario, times the rounds and writes the report.
func runBench(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	dir, err := os.MkdirTemp("", "callbackbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b := &bench{o: o, clients: map[string][]*http.Client{}, redisStats: commandStats{}}
	progress := func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }

	bin := o.caddy
	if bin == "" {
		progress("building ./cmd/caddy ...")
		if bin, err = testcaddy.Build(ctx, dir, false); err != nil {
			return err
		}
	}
	upstream, upAddr, err := startUpstream()
	if err != nil {
		return err
	}
	defer upstream.Close()
	var keyFile string
	if slices.Contains(o.scenarios, "jwt_rs256") {
		if b.tokens, keyFile, err = newTokenPool(dir, o.jwtTokens); err != nil {
			return err
		}
	}
	// A port for each scenario.
	ports, err := testcaddy.FreeLoopbackPorts(len(o.scenarios))
	if err != nil {
		return err
	}
	var redisURL string
	if slices.Contains(o.scenarios, "redis") {
		if b.redis, err = openRedis(ctx, o.redisServer, o.redisAddr, dir); err != nil {
			b.note("redis: skipped: %v", err)
		} else {
			defer b.redis.close()
			redisURL = b.redis.url
		}
	}
	b.addScenarios(ports, keyFile, redisURL)
	if err := b.startCaddy(ctx, bin, dir, upAddr); err != nil {
		return err
	}
	defer b.caddy.Stop()
	if len(b.scs) == 0 {
		return fmt.Errorf("no scenario left to run: %s", strings.Join(b.notes, "; "))
	}
	if err := b.connect(); err != nil {
		return err
	}
	b.machine = probeMachine(bin, b.tokens)

	if err := b.runRounds(ctx, progress); err != nil {
		return err
	}
	if o.cpuprofile != "" {
		if err := b.profile(ctx); err != nil {
			return err
		}
	}
	rep := b.report()
	rep.write(stdout)
	if o.strict && rep.failed > 0 {
		return fmt.Errorf("%d goal(s) failed", rep.failed)
	}
	return nil
}

// addScenarios sets up the scenarios of --scenarios on their ports, but
// redis when no Redis could be had (redisURL empty).
func (b *bench) addScenarios(ports []int, keyFile, redisURL string) {
	for i, name := range b.o.scenarios {
		if name == "redis" && redisURL == "" {
			continue
		}
		s := newScenario(name, keyFile, redisURL)
		s.port = ports[i]
		b.scs = append(b.scs, s)
	}
}

// connect opens the load connections of every scenario and probes each
// scenario over its first.
func (b *bench) connect() error {
	for _, s := range b.scs {
		for range b.o.connections {
			b.clients[s.name] = append(b.clients[s.name], newClient())
		}
		if err := b.probe(s); err != nil {
			return err
		}
	}
	return nil
}

// runRounds runs the warm-up, then the counted rounds: each scenario once a
// round, in the order rotate gives the round.
func (b *bench) runRounds(ctx context.Context, progress func(format string, args ...any)) error {
	o := b.o
	if o.warmup > 0 {
		progress("warm-up: %v per scenario", o.warmup)
		for _, s := range b.scs {
			if _, err := b.timed(ctx, s, o.warmup, true); err != nil {
				return err
			}
		}
	}
	for r := range o.rounds {
		order := rotate(b.scs, r)
		var line []string
		for _, s := range order {
			w, err := b.timed(ctx, s, o.duration, false)
			if err != nil {
				return err
			}
			s.rounds = append(s.rounds, *w)
			line = append(line, fmt.Sprintf("%s %.0f/s", s.name, w.rate()))
		}
		progress("round %d/%d: %s", r+1, o.rounds, strings.Join(line, ", "))
	}
	return nil
}

// startCaddy starts Caddy with every scenario but redis, then loads the
// config with redis too, so that a build without the redis store skips
// that scenario with a note instead of failing the run.
func (b *bench) startCaddy(ctx context.Context, bin, dir, upstream string) error {
	var without, with []*scenario
	var ports []int
	for _, s := range b.scs {
		with = append(with, s)
		if s.name != "redis" {
			without = append(without, s)
			ports = append(ports, s.port)
		}
	}
	var err error
	b.caddy, err = testcaddy.Launch(ctx, bin, dir, caddyfile(upstream, without), testcaddy.Options{Ports: ports})
	if err != nil {
		return err
	}
	if len(with) == len(without) {
		return nil
	}
	if err := b.caddy.Load(ctx, caddyfile(upstream, with)); err != nil {
		b.note("redis: skipped: Caddy refused the config: %v", err)
		b.scs = without
		b.redis.close()
		b.redis = nil
		return nil
	}
	for _, s := range with {
		if s.name == "redis" {
			return b.caddy.WaitPorts(ctx, s.port)
		}
	}
	return nil
}

// caddyfile is the config: one site per scenario, each on its own port.
func caddyfile(upstream string, scs []*scenario) string {
	var b strings.Builder
	b.WriteString("{\n\tadmin @ADMIN@\n\tpersist_config off\n\tauto_https off\n\tgrace_period 1s\n}\n\n")
	for _, s := range scs {
		b.WriteString(s.site(upstream))
		b.WriteString("\n")
	}
	return b.String()
}

// timed runs one window of s, after checking for an interrupt.
func (b *bench) timed(ctx context.Context, s *scenario, d time.Duration, warm bool) (*windowResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case <-b.caddy.Exited():
		return nil, fmt.Errorf("caddy exited:\n%s", tail(b.caddy.Log()))
	default:
	}
	w, err := b.window(s, d, warm)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", s.name, err)
	}
	if w.requests == 0 {
		return nil, fmt.Errorf("%s: no request answered 200 in %v (first error: %s)\n%s", s.name, d, w.firstErr, tail(b.caddy.Log()))
	}
	return w, nil
}

// rotate is the round's order: round r starts r scenarios later.
func rotate(scs []*scenario, r int) []*scenario {
	n := len(scs)
	out := make([]*scenario, 0, n)
	for i := range n {
		out = append(out, scs[(i+r)%n])
	}
	return out
}

// profile loads the chosen scenario for an extra, uncounted window while
// Caddy's admin endpoint profiles its CPU, and saves the profile.
func (b *bench) profile(ctx context.Context) error {
	var s *scenario
	for _, sc := range b.scs {
		if sc.name == b.o.profileOf {
			s = sc
		}
	}
	if s == nil {
		b.note("cpuprofile: scenario %s did not run; no profile", b.o.profileOf)
		return nil
	}
	seconds := max(1, int(b.o.duration.Round(time.Second)/time.Second))
	type fetched struct {
		data []byte
		err  error
	}
	done := make(chan fetched, 1)
	go func() {
		data, err := b.cpuProfile(ctx, seconds)
		done <- fetched{data, err}
	}()
	time.Sleep(50 * time.Millisecond) // let the profile start first
	if _, err := b.timed(ctx, s, time.Duration(seconds)*time.Second+100*time.Millisecond, true); err != nil {
		return err
	}
	f := <-done
	if f.err != nil {
		return fmt.Errorf("cpuprofile: %v", f.err)
	}
	if err := os.WriteFile(b.o.cpuprofile, f.data, 0o644); err != nil {
		return err
	}
	b.note("cpuprofile: %ds of Caddy under %s (an extra, uncounted window) saved to %s: go tool pprof -top %s",
		seconds, s.name, b.o.cpuprofile, b.o.cpuprofile)
	return nil
}

// cpuProfile fetches a CPU profile of seconds from Caddy's admin endpoint.
func (b *bench) cpuProfile(ctx context.Context, seconds int) ([]byte, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", b.caddy.AdminURL, seconds), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(data))
	}
	return data, nil
}

// tail is the end of a log, for error messages.
func tail(log string) string {
	if len(log) > 4000 {
		log = log[len(log)-4000:]
	}
	return log
}
