package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// row is one scenario's line of a table.
type row struct {
	name                 string
	rate                 float64
	p50, p99, cpu, extra time.Duration
	vsPlain, vsHeaders   float64 // NaN when there is nothing to compare with
	p99Added             time.Duration
	hasP99Added          bool
	others               float64 // other processes' CPU in the window, in cores
	errors, late         int64
}

type report struct {
	b      *bench
	rounds [][]row // each counted round, in --scenarios order
	median []row
	goals  [][4]string
	failed int
}

func (b *bench) find(name string) *scenario {
	for _, s := range b.scs {
		if s.name == name {
			return s
		}
	}
	return nil
}

// roundRow is s in round r, compared with plain and headers of that round.
func (b *bench) roundRow(s *scenario, r int) row {
	w := &s.rounds[r]
	x := row{name: s.name, rate: w.rate(), p50: w.hist.quantile(0.50), p99: w.hist.quantile(0.99),
		cpu: w.cpuPerReq(), errors: w.errors, late: w.late, vsPlain: math.NaN(), vsHeaders: math.NaN()}
	if w.requests > 0 {
		x.extra = w.extraCPU / time.Duration(w.requests)
	}
	x.others = max(0, w.others.Seconds()/w.elapsed.Seconds())
	if p := b.find("plain"); p != nil {
		x.vsPlain = x.rate / p.rounds[r].rate()
		x.p99Added = x.p99 - p.rounds[r].hist.quantile(0.99)
		x.hasP99Added = true
	}
	if h := b.find("headers"); h != nil {
		x.vsHeaders = x.rate / h.rounds[r].rate()
	}
	return x
}

func (b *bench) report() *report {
	rep := &report{b: b}
	for r := range b.o.rounds {
		var rows []row
		for _, s := range b.scs {
			rows = append(rows, b.roundRow(s, r))
		}
		rep.rounds = append(rep.rounds, rows)
	}
	for i, s := range b.scs {
		m := row{name: s.name, hasP99Added: rep.rounds[0][i].hasP99Added}
		pick := func(f func(row) float64) float64 {
			var v []float64
			for _, rows := range rep.rounds {
				v = append(v, f(rows[i]))
			}
			return median(v)
		}
		m.rate = pick(func(x row) float64 { return x.rate })
		m.p50 = time.Duration(pick(func(x row) float64 { return float64(x.p50) }))
		m.p99 = time.Duration(pick(func(x row) float64 { return float64(x.p99) }))
		m.cpu = time.Duration(pick(func(x row) float64 { return float64(x.cpu) }))
		m.extra = time.Duration(pick(func(x row) float64 { return float64(x.extra) }))
		m.vsPlain = pick(func(x row) float64 { return x.vsPlain })
		m.vsHeaders = pick(func(x row) float64 { return x.vsHeaders })
		m.p99Added = time.Duration(pick(func(x row) float64 { return float64(x.p99Added) }))
		m.others = pick(func(x row) float64 { return x.others })
		for _, rows := range rep.rounds {
			m.errors += rows[i].errors
			m.late += rows[i].late
		}
		rep.median = append(rep.median, m)
	}
	rep.checkGoals()
	return rep
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	n := len(v)
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

func (rep *report) row(name string) (row, bool) {
	for _, x := range rep.median {
		if x.name == name {
			return x, true
		}
	}
	return row{}, false
}

func (rep *report) goal(what, measured, target string, ok bool) {
	verdict := "PASS"
	if !ok {
		verdict = "FAIL"
		rep.failed++
	}
	rep.goals = append(rep.goals, [4]string{what, measured, target, verdict})
}

// checkGoals applies the goals to the medians.
func (rep *report) checkGoals() {
	plain, hasPlain := rep.row("plain")
	_, hasHeaders := rep.row("headers")
	for _, name := range []string{"header_secret", "basic_auth", "signed_url", "memory"} {
		x, ok := rep.row(name)
		if !ok || !hasPlain {
			continue
		}
		rep.goal(name+" ÷ plain", ratio(x.vsPlain), "≥ 0.90", x.vsPlain >= 0.90)
		if hasHeaders {
			rep.goal(name+" ÷ headers", ratio(x.vsHeaders), "≥ 0.97", x.vsHeaders >= 0.97)
		}
		rep.goal(name+" p99 added", ms(x.p99Added), "≤ 0.50 ms", x.p99Added <= 500*time.Microsecond)
	}
	if x, ok := rep.row("jwt_rs256"); ok && hasPlain {
		m := rep.b.machine
		budget := plain.cpu + m.rsaVerify.budget() + 10*time.Microsecond
		rep.goal("jwt_rs256 Caddy CPU/req", us(x.cpu),
			fmt.Sprintf("≤ %s (plain) + %s (RSA-2048 verify) + 10 = %s", us(plain.cpu), us(m.rsaVerify.budget()), us(budget)),
			x.cpu <= budget)
		rep.goal("jwt_rs256 ÷ plain", ratio(x.vsPlain), "≥ 0.65", x.vsPlain >= 0.65)
	}
	if x, ok := rep.row("redis"); ok && hasPlain {
		rep.goal("redis ÷ plain", ratio(x.vsPlain), "≥ 0.70", x.vsPlain >= 0.70)
	}
	if x, ok := rep.row("redis"); ok {
		rep.goal("redis-server CPU/delivery", us(x.extra), "≤ 20 µs", x.extra <= 20*time.Microsecond)
	}
}

func ratio(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.3f", v)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }
func us(d time.Duration) string { return fmt.Sprintf("%.1f µs", float64(d)/1e3) }

func (rep *report) write(w io.Writer) {
	b, o, m := rep.b, rep.b.o, rep.b.machine
	fmt.Fprintf(w, "# callbackbench %s\n\n", strings.Join(o.args, " "))
	fmt.Fprintf(w, "- machine: %s, %d cores, %s; %s; load average %s before the windows\n", m.cpu, m.cores, m.goVer, m.caddyVer, m.loadavg)
	warm := ", no warm-up"
	if o.warmup > 0 {
		warm = fmt.Sprintf(" after an uncounted warm-up of %v each", o.warmup)
	}
	fmt.Fprintf(w, "- load: %d keep-alive HTTP/1.1 connections per scenario, closed loop, %d round(s) of %v per scenario%s, order rotated each round; "+
		"every request a fresh POST delivery (unique id in its JSON body, its own signed URL in every scenario, its own token), prepared before the window\n",
		o.connections, o.rounds, o.duration, warm)
	fmt.Fprintf(w, "- Caddy CPU/req: the Caddy process's CPU time in the window (its threads' /proc schedstat) ÷ requests answered; "+
		"the upstream and the load generator run in this process on the same cores, alike for every scenario\n")
	if b.redis != nil {
		where := "a redis-server this command started on loopback, on the same cores"
		if b.redis.local == nil {
			where = "the Redis of --redis-addr (its CPU counts every client's commands, not only Caddy's)"
		}
		fmt.Fprintf(w, "- Redis CPU/req: redis-server's own CPU time in the window (INFO cpu: used_cpu_user + used_cpu_sys) ÷ requests answered; %s\n", where)
	}
	fmt.Fprintf(w, "- ÷ plain, ÷ headers: req/s over plain reverse_proxy, and over reverse_proxy adding the seven X-Callback-* headers with header_up, in the same round\n")
	fmt.Fprintf(w, "- other load: the CPU that processes other than Caddy, this one and redis-server used during the window, in cores (/proc/stat); above ~0.1 the numbers are noisy\n")
	if b.find("jwt_rs256") != nil {
		fmt.Fprintf(w, "- measured here before the windows (testing.Benchmark, fastest of 3; CPU time, wall time in parentheses): one RSA-2048 verification %s (%s), golang-jwt RS256 parse+verify %s (%s)\n",
			us(m.rsaVerify.cpu), us(m.rsaVerify.wall), us(m.jwtVerify.cpu), us(m.jwtVerify.wall))
	}
	if o.verbose {
		for r, rows := range rep.rounds {
			fmt.Fprintf(w, "\n## Round %d (order: %s)\n\n", r+1, names(rotate(b.scs, r)))
			writeTable(w, rows)
		}
	}
	fmt.Fprintf(w, "\n## Medians of %d round(s)\n\n", o.rounds)
	writeTable(w, rep.median)

	fmt.Fprintf(w, "\n## Goals (medians of the rounds)\n\n")
	fmt.Fprintf(w, "| goal | measured | target | |\n| --- | ---: | --- | --- |\n")
	for _, g := range rep.goals {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", g[0], g[1], g[2], g[3])
	}
	fmt.Fprintf(w, "| memory store, 1 M entries with 100-byte answers | `callbackbench store -n 1000000` | ≤ 256 MiB RSS | – |\n")
	if len(rep.goals) == 0 {
		fmt.Fprintf(w, "\n(no goal applies: the goals compare guarded routes with plain)\n")
	}

	notes := slices.Clone(b.notes)
	for _, x := range rep.median {
		if x.errors > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d request(s) failed (not counted)", x.name, x.errors))
		}
		if x.late > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d request(s) were prepared during a window (the rate estimate was short; jwt_rs256 reuses the warm-up's tokens for them)", x.name, x.late))
		}
		if x.name == "redis" {
			notes = append(notes, rep.redisCommands())
		}
	}
	if b.find("jwt_rs256") != nil {
		how := fmt.Sprintf("the counted windows sent %d tokens, each once", b.tokens.sent)
		if o.jwtTokens > 0 {
			how = fmt.Sprintf("the counted windows used %d tokens in turn (--jwt-tokens)", len(b.tokens.ring))
		}
		notes = append(notes, fmt.Sprintf("jwt_rs256: %s (the warm-up and the probes: %d in turn); %d tokens signed in %v, before the windows",
			how, len(b.tokens.warm), b.tokens.made, b.tokens.signing.Round(time.Millisecond)))
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\n## Notes\n\n")
		for _, n := range notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
}

func names(scs []*scenario) string {
	var n []string
	for _, s := range scs {
		n = append(n, s.name)
	}
	return strings.Join(n, ", ")
}

func writeTable(w io.Writer, rows []row) {
	fmt.Fprintf(w, "| scenario | req/s | p50 | p99 | Caddy CPU/req | Redis CPU/req | ÷ plain | ÷ headers | other load |\n")
	fmt.Fprintf(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, x := range rows {
		store := "–"
		if x.name == "redis" {
			store = us(x.extra)
		}
		fmt.Fprintf(w, "| %s | %.0f | %s | %s | %s | %s | %s | %s | %.2f |\n",
			x.name, x.rate, ms(x.p50), ms(x.p99), us(x.cpu), store, ratio(x.vsPlain), ratio(x.vsHeaders), x.others)
	}
}

// redisCommands says what redis-server ran per delivery of the redis
// scenario's counted windows (INFO commandstats): where its CPU goes.
func (rep *report) redisCommands() string {
	s := rep.b.find("redis")
	var requests int64
	for _, w := range s.rounds {
		requests += w.requests
	}
	stats := rep.b.redisStats
	names := make([]string, 0, len(stats))
	for name, v := range stats {
		if v[0] > 0 && name != "info" {
			names = append(names, name)
		}
	}
	if requests == 0 || len(names) == 0 {
		return "redis: no command statistics"
	}
	slices.SortFunc(names, func(a, b string) int { return int(stats[b][1] - stats[a][1]) })
	var parts []string
	for _, name := range names {
		v := stats[name]
		parts = append(parts, fmt.Sprintf("%.2f %s (%.2f µs each)", v[0]/float64(requests), strings.ToUpper(name), v[1]/v[0]))
	}
	return "redis: per delivery, redis-server ran " + strings.Join(parts, ", ") +
		" (INFO commandstats over the counted windows; a script's time includes its redis.calls, which are counted too, and the rest of Redis CPU/req is reading, parsing and answering)"
}
