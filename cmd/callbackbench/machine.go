package main

import (
	"bufio"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// machine is what the report says about where it ran.
type machine struct {
	cpu      string
	cores    int
	goVer    string
	caddyVer string
	loadavg  string
	// rsaVerify is one rsa.VerifyPKCS1v15 of an RSA-2048 signature here;
	// jwtVerify is golang-jwt's whole RS256 parse and verify of a token.
	rsaVerify, jwtVerify cost
}

func probeMachine(caddyBin string, tokens *tokenPool) machine {
	m := machine{cpu: cpuModel(), cores: runtime.NumCPU(), goVer: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH,
		caddyVer: caddyVersion(caddyBin)}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.loadavg = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	if tokens != nil {
		m.rsaVerify, m.jwtVerify = verifyCosts(tokens.key)
	}
	return m
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// verifyCosts measures, in this process, one RSA-2048 PKCS#1 v1.5
// verification and golang-jwt's RS256 parse+verify of a small token: the
// budget of the jwt_rs256 goal. They are CPU times, like Caddy's CPU/req.
func verifyCosts(key *rsa.PrivateKey) (rsaVerify, jwtVerify cost) {
	digest := sha256.Sum256([]byte("callbackbench"))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		return
	}
	pub := &key.PublicKey
	rsaVerify = fastest(func() error { return rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig) })

	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"id": "evt_000000000001", "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = jwtKeyID
	signed, err := tok.SignedString(key)
	if err != nil {
		return
	}
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"RS256"}))
	keyFunc := func(*jwt.Token) (any, error) { return pub, nil }
	jwtVerify = fastest(func() error { _, err := parser.Parse(signed, keyFunc); return err })
	return rsaVerify, jwtVerify
}

// cost is what one operation took: the CPU time of the thread that ran it
// (from /proc/thread-self/schedstat; 0 without it) and the wall time
// (testing.Benchmark's ns/op).
type cost struct{ cpu, wall time.Duration }

// budget is the CPU time when known, else the wall time.
func (c cost) budget() time.Duration {
	if c.cpu > 0 {
		return c.cpu
	}
	return c.wall
}

// fastest is the best of 3 runs of testing.Benchmark of op: the machine
// may be busy with other work, and the goal wants the cost of the
// operation, not of the wait for a core.
func fastest(op func() error) cost {
	best := cost{cpu: math.MaxInt64, wall: math.MaxInt64}
	for range 3 {
		var cpu time.Duration
		r := testing.Benchmark(func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			c0 := threadCPU()
			for range b.N {
				if err := op(); err != nil {
					b.Fatal(err)
				}
			}
			if c0 > 0 {
				cpu = (threadCPU() - c0) / time.Duration(b.N)
			}
		})
		if r.N == 0 {
			return cost{}
		}
		best.wall = min(best.wall, time.Duration(r.NsPerOp()))
		best.cpu = min(best.cpu, cpu)
	}
	return best
}

// threadCPU is the calling thread's CPU time so far (0 when unknown).
func threadCPU() time.Duration {
	b, err := os.ReadFile("/proc/thread-self/schedstat")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	ns, _ := strconv.ParseInt(f[0], 10, 64)
	return time.Duration(ns)
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

// version is the first line of `caddy version`.
func caddyVersion(bin string) string {
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}
