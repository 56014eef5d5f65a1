// Package testcaddy runs real Caddy processes, built from ./cmd/caddy with
// the callback_guard module, for end-to-end tests: each instance gets its
// own free loopback ports, its own admin endpoint and its own log.
package testcaddy

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

type build struct {
	once sync.Once
	path string
	err  error
}

// builds are the caddy binaries of this test process: [0] plain, [1] -race.
var builds [2]build

// Binary builds ./cmd/caddy once per test process (with -race when the
// tests run with it, so that the guard's own races are caught in the
// server) and returns its path.
func Binary(t testing.TB) string { return binary(t, raceEnabled) }

func binary(t testing.TB, race bool) string {
	t.Helper()
	b := &builds[0]
	if race {
		b = &builds[1]
	}
	b.once.Do(func() {
		root, err := ModuleRoot()
		if err != nil {
			b.err = err
			return
		}
		dir, err := os.MkdirTemp("", "callbackguard-caddy-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, "caddy")
		args := []string{"build", "-o", b.path}
		if race {
			args = append(args, "-race")
		}
		args = append(args, "./cmd/caddy")
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build ./cmd/caddy: %v\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// ModuleRoot is the directory of go.mod.
func ModuleRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("testcaddy: cannot find own source")
	}
	return filepath.Abs(filepath.Join(filepath.Dir(file), "..", ".."))
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort(t testing.TB) int { return FreePorts(t, 1)[0] }

// FreePorts returns n distinct loopback ports that were free a moment ago
// (all are held open together while choosing, so none is chosen twice).
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// Instance is one running Caddy.
type Instance struct {
	// URL is the base URL of the site, e.g. http://127.0.0.1:41234.
	URL string
	// AdminURL is the base URL of the admin endpoint.
	AdminURL string
	// Dir holds the instance's Caddyfile and files.
	Dir string

	cmd    *exec.Cmd
	mu     sync.Mutex
	log    bytes.Buffer
	t      testing.TB
	waited chan struct{}
}

// Options tune Start.
type Options struct {
	// Env is added to the process environment.
	Env []string
	// Adapter is the config adapter; default caddyfile.
	Adapter string
	// NoRace runs a binary built without -race even under -race, for
	// tests that measure time: the race detector slows the server several
	// times over.
	NoRace bool
}

// Start writes config (with @HTTP@ replaced by the site port, @ADMIN@ by
// the admin address and @DIR@ by the instance directory) and runs Caddy on
// it until the test ends. Use a global block that starts with
// "admin @ADMIN@" (Template does it).
func Start(t testing.TB, config string, opts ...Options) *Instance {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Adapter == "" {
		o.Adapter = "caddyfile"
	}
	bin := binary(t, raceEnabled && !o.NoRace)
	inst := &Instance{Dir: t.TempDir(), t: t, waited: make(chan struct{})}
	ports := FreePorts(t, 2)
	httpPort, adminPort := ports[0], ports[1]
	inst.URL = fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	admin := fmt.Sprintf("127.0.0.1:%d", adminPort)
	inst.AdminURL = "http://" + admin
	config = Expand(config, httpPort, admin, inst.Dir)
	name := "Caddyfile"
	if o.Adapter == "json" {
		name = "caddy.json"
	}
	cfgPath := filepath.Join(inst.Dir, name)
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"run", "--config", cfgPath}
	if o.Adapter != "json" { // Caddy's own format needs no adapter
		args = append(args, "--adapter", o.Adapter)
	}
	inst.cmd = exec.Command(bin, args...)
	inst.cmd.Dir = inst.Dir
	inst.cmd.Env = append(os.Environ(), "HOME="+inst.Dir, "XDG_DATA_HOME="+inst.Dir, "XDG_CONFIG_HOME="+inst.Dir)
	inst.cmd.Env = append(inst.cmd.Env, o.Env...)
	inst.cmd.Stdout = (*lockedWriter)(inst)
	inst.cmd.Stderr = (*lockedWriter)(inst)
	if err := inst.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = inst.cmd.Wait(); close(inst.waited) }()
	t.Cleanup(inst.Stop)
	inst.waitReady(httpPort)
	return inst
}

// Expand fills the @HTTP@, @ADMIN@ and @DIR@ markers of a test config.
func Expand(config string, httpPort int, admin, dir string) string {
	return strings.NewReplacer("@HTTP@", fmt.Sprint(httpPort), "@ADMIN@", admin, "@DIR@", dir).Replace(config)
}

func (inst *Instance) waitReady(port int) {
	inst.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-inst.waited:
			inst.t.Fatalf("caddy exited at start:\n%s", inst.Log())
		default:
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	inst.t.Fatalf("caddy did not listen within 60s:\n%s", inst.Log())
}

type lockedWriter Instance

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.log.Write(p)
}

// Log returns what the process printed so far.
func (inst *Instance) Log() string {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	return inst.log.String()
}

// Stop ends the process (idempotent) and fails the test on a data race.
func (inst *Instance) Stop() {
	if inst.cmd.Process == nil {
		return
	}
	select {
	case <-inst.waited:
	default:
		_ = inst.cmd.Process.Signal(os.Interrupt)
		select {
		case <-inst.waited:
		case <-time.After(10 * time.Second):
			_ = inst.cmd.Process.Kill()
			<-inst.waited
		}
	}
	if strings.Contains(inst.Log(), "WARNING: DATA RACE") {
		inst.t.Errorf("data race in caddy:\n%s", inst.Log())
	}
}

// Load posts a new Caddyfile to the admin endpoint (a config reload).
func (inst *Instance) Load(t testing.TB, config string) {
	t.Helper()
	port := strings.TrimPrefix(inst.URL, "http://127.0.0.1:")
	var httpPort int
	fmt.Sscan(port, &httpPort)
	config = Expand(config, httpPort, strings.TrimPrefix(inst.AdminURL, "http://"), inst.Dir)
	req, _ := http.NewRequest(http.MethodPost, inst.AdminURL+"/load", strings.NewReader(config))
	req.Header.Set("Content-Type", "text/caddyfile")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		t.Fatalf("reload: %s: %s", resp.Status, b.String())
	}
	// Caddy closes the old config's idle connections: a POST on one of
	// them would fail with a reset instead of being retried.
	http.DefaultClient.CloseIdleConnections()
}

// Run runs the built caddy binary with args (adapt, validate, …) in dir and
// returns its combined output and error.
func Run(t testing.TB, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(Binary(t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Kill ends the process at once, as a crash would: no cleanup runs.
func (inst *Instance) Kill() {
	select {
	case <-inst.waited:
	default:
		_ = inst.cmd.Process.Kill()
		<-inst.waited
	}
}
