package testcaddy

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// builds are the caddy binaries of this test process: [0] plain, [1] -race.
var builds [2]struct {
	once sync.Once
	path string
	err  error
}

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
		dir, err := os.MkdirTemp("", "callbackguard-caddy-")
		if err != nil {
			b.err = err
			return
		}
		b.path, b.err = Build(context.Background(), dir, race)
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort(t testing.TB) int { return FreePorts(t, 1)[0] }

// FreePorts is FreeLoopbackPorts for a test.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports, err := FreeLoopbackPorts(n)
	if err != nil {
		t.Fatal(err)
	}
	return ports
}

// Instance is one Caddy of a test.
type Instance struct {
	*Process
	t testing.TB
}

// Start runs Caddy on config (see Launch for its markers) in a directory of
// the test until the test ends.
func Start(t testing.TB, config string, opts ...Options) *Instance {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	p, err := Launch(t.Context(), binary(t, raceEnabled && !o.NoRace), t.TempDir(), config, o)
	if err != nil {
		t.Fatal(err)
	}
	inst := &Instance{Process: p, t: t}
	t.Cleanup(inst.Stop)
	return inst
}

// Stop ends the process and fails the test on a data race in it.
func (inst *Instance) Stop() {
	inst.Process.Stop()
	if strings.Contains(inst.Log(), "WARNING: DATA RACE") {
		inst.t.Errorf("data race in caddy:\n%s", inst.Log())
	}
}

// Load posts a new config to the admin endpoint (a config reload) and
// fails the test when Caddy refuses it.
func (inst *Instance) Load(t testing.TB, config string) {
	t.Helper()
	if err := inst.TryLoad(config); err != nil {
		t.Fatalf("reload: %v", err)
	}
}

// TryLoad posts a new config and returns Caddy's refusal, if any.
func (inst *Instance) TryLoad(config string) error {
	return inst.Process.Load(context.Background(), config)
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
