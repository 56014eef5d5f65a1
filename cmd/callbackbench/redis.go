package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/callbackguard/callbackguard/caddymodule/redisstore"
	"github.com/callbackguard/callbackguard/internal/redistest"
)

// redisTarget is the Redis of the redis scenario: a redis-server this
// command starts on loopback, or one the user runs (--redis-addr).
type redisTarget struct {
	url    string
	local  *redistest.Server // nil for the user's Redis
	client rueidis.Client    // reads INFO
}

// openRedis starts redis-server in dir, or connects to addr (host:port or
// a redis:// URL) when it is set.
func openRedis(ctx context.Context, bin, addr, dir string) (*redisTarget, error) {
	r := &redisTarget{url: addr}
	if addr == "" {
		path, err := exec.LookPath(bin)
		if err != nil {
			return nil, fmt.Errorf("no %s on PATH (or use --redis-addr)", bin)
		}
		if r.local, err = redistest.Launch(path, dir, redistest.Options{}); err != nil {
			return nil, err
		}
		r.url = r.local.URL(0)
	} else if !strings.Contains(addr, "://") {
		r.url = "redis://" + addr + "/0"
	}
	opt, err := redisstore.ParseURL(r.url)
	if err != nil {
		r.close()
		return nil, err
	}
	if r.client, err = rueidis.NewClient(opt); err != nil {
		r.close()
		return nil, fmt.Errorf("redis at %s: %v", r.url, err)
	}
	return r, nil
}

// addr is the URL without what may be a password.
func (r *redisTarget) addr() string {
	_, rest, _ := strings.Cut(r.url, "://")
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		rest = rest[at+1:]
	}
	return rest
}

func (r *redisTarget) close() {
	if r.client != nil {
		r.client.Close()
	}
	if r.local != nil {
		r.local.Stop()
	}
}

// info is INFO section as name → value.
func (r *redisTarget) info(section string) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	text, err := r.client.Do(ctx, r.client.B().Info().Section(section).Build()).ToString()
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, line := range strings.Split(text, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = v
		}
	}
	return m, nil
}

// cpu is the CPU time redis-server has used so far: its own rusage
// (INFO cpu, the user and system times /proc/<pid>/stat shows, in µs),
// which works for a Redis on another machine too.
func (r *redisTarget) cpu() (time.Duration, error) {
	m, err := r.info("cpu")
	if err != nil {
		return 0, err
	}
	var sum float64
	for _, k := range []string{"used_cpu_user", "used_cpu_sys"} {
		v, err := strconv.ParseFloat(m[k], 64)
		if err != nil {
			return 0, fmt.Errorf("INFO cpu: %s %q", k, m[k])
		}
		sum += v
	}
	return time.Duration(sum * float64(time.Second)), nil
}

// commandStats are INFO commandstats's calls and microseconds by command.
type commandStats map[string][2]float64

func (r *redisTarget) commandStats() (commandStats, error) {
	m, err := r.info("commandstats")
	if err != nil {
		return nil, err
	}
	out := commandStats{}
	for k, v := range m {
		name, ok := strings.CutPrefix(k, "cmdstat_")
		if !ok {
			continue
		}
		var calls, usec float64
		for _, f := range strings.Split(v, ",") {
			key, val, _ := strings.Cut(f, "=")
			switch key {
			case "calls":
				calls, _ = strconv.ParseFloat(val, 64)
			case "usec":
				usec, _ = strconv.ParseFloat(val, 64)
			}
		}
		out[name] = [2]float64{calls, usec}
	}
	return out, nil
}

// add adds after-before to s.
func (s commandStats) add(before, after commandStats) {
	for name, a := range after {
		b := before[name]
		d := s[name]
		s[name] = [2]float64{d[0] + a[0] - b[0], d[1] + a[1] - b[1]}
	}
}

// usedMemory is INFO memory's used_memory, in bytes.
func (r *redisTarget) usedMemory() (int64, error) {
	m, err := r.info("memory")
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(m["used_memory"], 10, 64)
	if err != nil {
		return 0, errors.New("INFO memory: no used_memory")
	}
	return n, nil
}
