// Package testcaddy runs real Caddy processes, built from ./cmd/caddy with
// the callback_guard module: for the end-to-end tests (Start, stopped when
// the test ends) and for the benchmark command (Launch). Each process gets
// its own free loopback ports, its own admin endpoint and its own log.
package testcaddy

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
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Build builds ./cmd/caddy of this module into dir (with -race when race)
// and returns the binary's path.
func Build(ctx context.Context, dir string, race bool) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "caddy")
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "./cmd/caddy")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/caddy: %v\n%s", err, out)
	}
	return bin, nil
}

// ModuleRoot is the directory of go.mod, found from this file's source
// path (the binary that calls it runs from the module: a test, or go run).
func ModuleRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("testcaddy: cannot find own source")
	}
	root, err := filepath.Abs(filepath.Join(filepath.Dir(file), "..", ".."))
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return "", fmt.Errorf("testcaddy: the module's source is not at %s (pass a Caddy binary instead): %v", root, err)
	}
	return root, nil
}

// FreeLoopbackPorts returns n distinct loopback ports that were free a
// moment ago (all held open together while choosing, so none is chosen
// twice).
func FreeLoopbackPorts(n int) ([]int, error) {
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

// Options tune Launch and Start.
type Options struct {
	// Env is added to the process environment.
	Env []string
	// Adapter is the config adapter; default caddyfile.
	Adapter string
	// NoRace runs a binary built without -race even under -race, for
	// tests that measure time: the race detector slows the server several
	// times over. (Start only.)
	NoRace bool
	// Ports are more ports of the config to wait for, besides @HTTP@.
	Ports []int
}

// Process is one running Caddy.
type Process struct {
	// URL is the base URL of the site on @HTTP@, e.g. http://127.0.0.1:41234.
	URL string
	// AdminURL is the base URL of the admin endpoint.
	AdminURL string
	// Dir holds the process's config and files.
	Dir string

	httpPort int
	cmd      *exec.Cmd
	mu       sync.Mutex
	log      bytes.Buffer
	exited   chan struct{}
}

// Launch writes config to dir, with @HTTP@ replaced by a free port, @ADMIN@
// by the admin address (on another) and @DIR@ by dir, runs the Caddy
// binary bin on it, and waits until the admin endpoint, @HTTP@ (when the
// config names it) and o.Ports listen. The config's global block should start with
// "admin @ADMIN@". The caller stops the process.
func Launch(ctx context.Context, bin, dir, config string, o Options) (*Process, error) {
	if o.Adapter == "" {
		o.Adapter = "caddyfile"
	}
	ports, err := FreeLoopbackPorts(2)
	if err != nil {
		return nil, err
	}
	p := &Process{Dir: dir, httpPort: ports[0], exited: make(chan struct{})}
	p.URL = fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	p.AdminURL = fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	name := "Caddyfile"
	if o.Adapter == "json" {
		name = "caddy.json"
	}
	cfgPath := filepath.Join(dir, name)
	if err := os.WriteFile(cfgPath, []byte(p.Expand(config)), 0o600); err != nil {
		return nil, err
	}
	args := []string{"run", "--config", cfgPath}
	if o.Adapter != "json" { // Caddy's own format needs no adapter
		args = append(args, "--adapter", o.Adapter)
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	p.cmd.Env = append(p.cmd.Env, o.Env...)
	p.cmd.Stdout = (*lockedWriter)(p)
	p.cmd.Stderr = (*lockedWriter)(p)
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	wait := []int{ports[1]}
	if strings.Contains(config, "@HTTP@") {
		wait = append(wait, ports[0])
	}
	if err := p.WaitPorts(ctx, append(wait, o.Ports...)...); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// Expand fills the @HTTP@, @ADMIN@ and @DIR@ markers of a config.
func (p *Process) Expand(config string) string {
	return Expand(config, p.httpPort, strings.TrimPrefix(p.AdminURL, "http://"), p.Dir)
}

// Expand fills the @HTTP@, @ADMIN@ and @DIR@ markers of a config.
func Expand(config string, httpPort int, admin, dir string) string {
	return strings.NewReplacer("@HTTP@", strconv.Itoa(httpPort), "@ADMIN@", admin, "@DIR@", dir).Replace(config)
}

// WaitPorts waits until every loopback port accepts connections, for at
// most a minute.
func (p *Process) WaitPorts(ctx context.Context, ports ...int) error {
	deadline := time.Now().Add(time.Minute)
	for _, port := range ports {
		for {
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 200*time.Millisecond)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-p.exited:
				return fmt.Errorf("caddy exited at start:\n%s", p.Log())
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("caddy did not listen on %d within a minute:\n%s", port, p.Log())
			}
		}
	}
	return nil
}

type lockedWriter Process

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.log.Write(b)
}

// Log returns what the process printed so far.
func (p *Process) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// PID is the process's id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Exited is closed when the process has ended.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Load posts a new config (markers expanded) to the admin endpoint: a
// config reload. When Caddy refuses it, the old config keeps running and
// the error holds Caddy's answer.
func (p *Process) Load(ctx context.Context, config string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.AdminURL+"/load", strings.NewReader(p.Expand(config)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/caddyfile")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 8000))
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(b))
	}
	// Caddy closes the old config's idle connections: a POST on one of
	// them would fail with a reset instead of being retried.
	http.DefaultClient.CloseIdleConnections()
	return nil
}

// Stop interrupts the process and kills it when it lingers; it may be
// called more than once.
func (p *Process) Stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.Kill()
	}
}

// Kill ends the process at once, as a crash would: no cleanup runs.
func (p *Process) Kill() {
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}
