package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// buildCaddy builds ./cmd/caddy of the module that holds the working
// directory into dir.
func buildCaddy(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the callbackguard module: run from it, or pass --caddy")
	}
	bin := filepath.Join(dir, "caddy")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/caddy")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/caddy: %v\n%s", err, out)
	}
	return bin, nil
}

// freePorts returns n distinct loopback ports that were free a moment ago
// (all held open at once, so that none is handed out twice).
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// machineBusy is the CPU time all processes have used so far, from the
// first line of /proc/stat (user, nice, system, irq, softirq and steal,
// in ticks of 1/100 s).
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, _ := strconv.ParseInt(f[i], 10, 64)
		ticks += v
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// process is a child process (Caddy, redis-server) with its output in a
// file.
type process struct {
	name   string
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
}

func startProcess(name, dir, logName string, env []string, bin string, args ...string) (*process, error) {
	logPath := filepath.Join(dir, logName)
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %v", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.exited) }()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// tail is the end of the process's output, for error messages.
func (p *process) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// waitPorts waits until every port accepts connections.
func (p *process) waitPorts(ctx context.Context, ports ...int) error {
	deadline := time.Now().Add(60 * time.Second)
	for _, port := range ports {
		for {
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 200*time.Millisecond)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-p.exited:
				return fmt.Errorf("%s exited at start:\n%s", p.name, p.tail())
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s did not listen on %d within 60s:\n%s", p.name, port, p.tail())
			}
		}
	}
	return nil
}

// stop interrupts the process and kills it when it lingers.
func (p *process) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// cpu is the CPU time the process has used so far: the sum of its
// threads' /proc/<pid>/task/<tid>/schedstat run times (nanoseconds), or,
// without schedstat, utime+stime of /proc/<pid>/stat (clock ticks, taken
// as 1/100 s).
func (p *process) cpu() (time.Duration, error) {
	return processCPU(p.pid())
}

func processCPU(pid int) (time.Duration, error) {
	taskDir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(taskDir)
	if err == nil {
		var sum time.Duration
		ok := false
		for _, t := range tasks {
			b, err := os.ReadFile(filepath.Join(taskDir, t.Name(), "schedstat"))
			if err != nil {
				continue // the thread just ended, or no schedstat
			}
			f := strings.Fields(string(b))
			if len(f) == 0 {
				continue
			}
			ns, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				continue
			}
			sum += time.Duration(ns)
			ok = true
		}
		if ok {
			return sum, nil
		}
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which is in parentheses.
	rest := string(b)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// caddy is the running Caddy with its admin endpoint.
type caddy struct {
	*process
	bin   string
	admin string // host:port
	dir   string
}

// startCaddy runs bin on config (a Caddyfile) in dir and waits for ports.
func startCaddy(ctx context.Context, bin, dir, admin, config string, ports []int) (*caddy, error) {
	cfg := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		return nil, err
	}
	env := []string{"HOME=" + dir, "XDG_DATA_HOME=" + dir, "XDG_CONFIG_HOME=" + dir}
	p, err := startProcess("caddy", dir, "caddy.log", env, bin, "run", "--config", cfg, "--adapter", "caddyfile")
	if err != nil {
		return nil, err
	}
	c := &caddy{process: p, bin: bin, admin: admin, dir: dir}
	_, adminPort, _ := net.SplitHostPort(admin)
	ap, _ := strconv.Atoi(adminPort)
	if err := p.waitPorts(ctx, append([]int{ap}, ports...)...); err != nil {
		p.stop()
		return nil, err
	}
	return c, nil
}

// load replaces the running config with a Caddyfile through the admin
// endpoint; on an error the old config keeps running.
func (c *caddy) load(ctx context.Context, config string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+c.admin+"/load", strings.NewReader(config))
	req.Header.Set("Content-Type", "text/caddyfile")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4000))
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(b))
	}
	return nil
}

// profile fetches a CPU profile of seconds from the admin endpoint.
func (c *caddy) profile(ctx context.Context, seconds int) ([]byte, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", c.admin, seconds), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(b))
	}
	return b, nil
}

// version is the first line of `caddy version`.
func caddyVersion(bin string) string {
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

// startRedis starts redis-server on a free loopback port with persistence
// off; the URL is "" (and the reason is in err) when it cannot.
func startRedis(ctx context.Context, bin, dir string, port int) (*process, string, error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, "", fmt.Errorf("no %s on PATH", bin)
	}
	p, err := startProcess("redis-server", dir, "redis.log", nil, path,
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--daemonize", "no", "--dir", dir)
	if err != nil {
		return nil, "", err
	}
	if err := p.waitPorts(ctx, port); err != nil {
		p.stop()
		return nil, "", err
	}
	return p, fmt.Sprintf("redis://127.0.0.1:%d/0", port), nil
}
