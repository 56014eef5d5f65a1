// Package redistest runs a real redis-server for tests: the Redis store's
// guarantees (atomic claims across instances, expiry, Pub/Sub wake-ups, what
// happens when the server dies or stalls) are properties of Redis itself, so
// they are tested against it, never against a mock or an emulation.
//
// Each Server is a private redis-server on a loopback port, without
// persistence, in a temporary directory, killed when the test ends.
package redistest

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// startTimeout bounds how long Start waits for the server to answer PING.
const startTimeout = 10 * time.Second

// Options configures Start.
type Options struct {
	// Password, when set, is required by the server (--requirepass).
	Password string
	// Port is the port to listen on; 0 picks a free one. Restart reuses the
	// port of the first start, so clients that hold the address reconnect.
	Port int
	// TLS serves TLS only, with a certificate for 127.0.0.1 made for the
	// test (Server.TLSConfig trusts it); URL then says rediss://.
	TLS bool
	// ReplicaOf makes the server a replica of that server, authenticated
	// with Password (a master and its replicas share one password, so that
	// any of them can become the master).
	ReplicaOf *Server
}

// Server is a running (or stopped) redis-server.
type Server struct {
	Addr     string // 127.0.0.1:Port
	Port     int
	Password string

	bin       string
	dir       string
	tls       *tls.Config // the client's side, when the server speaks TLS
	cluster   bool        // a Redis Cluster node (see StartCluster)
	replicaOf *Server     // a replica of that server (Options.ReplicaOf)
	sentinel  string      // a sentinel's configuration file (see StartSentinels)

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	seq  int           // starts so far, to name the log files
}

// Start runs redis-server on 127.0.0.1 until the test ends, waits until it
// answers PING, and returns it. When the redis-server binary is not
// installed the test is skipped, unless the environment has REQUIRE_REDIS=1
// (CI sets it, so that a missing server fails instead of passing quietly).
func Start(t testing.TB, opts ...Options) *Server {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	return startServer(t, &Server{Password: o.Password, Port: o.Port, replicaOf: o.ReplicaOf}, o.TLS)
}

// startServer starts s (its mode and options filled in) for the test.
func startServer(t testing.TB, s *Server, useTLS bool) *Server {
	t.Helper()
	s.bin, s.dir = lookPath(t), t.TempDir()
	s, err := launch(s, useTLS)
	if s != nil {
		t.Cleanup(s.Stop)
	}
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	return s
}

// lookPath finds redis-server, or skips (or fails) t without it.
func lookPath(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("REQUIRE_REDIS") == "1" {
			t.Fatalf("redistest: redis-server not found in PATH and REQUIRE_REDIS=1: %v", err)
		}
		t.Skipf("redistest: redis-server not found in PATH (install redis-server, or set REQUIRE_REDIS=1 to fail instead): %v", err)
	}
	return bin
}

// Launch runs the redis-server binary bin in dir, outside of a test (the
// benchmark command runs its Redis with it); the caller stops it.
func Launch(bin, dir string, o Options) (*Server, error) {
	return launch(&Server{Password: o.Password, Port: o.Port, replicaOf: o.ReplicaOf, bin: bin, dir: dir}, o.TLS)
}

// launch starts s, on a free port unless s.Port is set; s is nil when it
// could not make the TLS certificate or find a port.
func launch(s *Server, useTLS bool) (*Server, error) {
	if useTLS {
		var err error
		if s.tls, err = writeCertificate(s.dir); err != nil {
			return nil, err
		}
	}
	// A free port found by listening on :0 may be taken by someone else
	// before redis-server binds it; try a few.
	fixed := s.Port != 0
	var lastErr error
	for range 5 {
		if !fixed {
			var err error
			if s.Port, err = freePort(s.cluster); err != nil {
				return nil, err
			}
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
		if lastErr = s.start(); lastErr == nil || fixed {
			break
		}
	}
	return s, lastErr
}

// PID is the process id of the running server (0 when stopped).
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// URL is the server's URL for database db, with the password: redis://,
// or rediss:// for a TLS server.
func (s *Server) URL(db int) string {
	u := url.URL{Scheme: "redis", Host: s.Addr, Path: "/" + strconv.Itoa(db)}
	if s.tls != nil {
		u.Scheme = "rediss"
	}
	if s.Password != "" {
		u.User = url.UserPassword("", s.Password)
	}
	return u.String()
}

// TLSConfig is a client configuration that trusts a TLS server's
// certificate (nil when the server does not speak TLS).
func (s *Server) TLSConfig() *tls.Config {
	if s.tls == nil {
		return nil
	}
	return s.tls.Clone()
}

// Stop kills the server at once (SIGKILL: no shutdown, as in a crash) and
// waits until it has exited. It may be called more than once.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Restart starts the server again on the same port, with empty data and an
// empty script cache, as after a crash without persistence.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		t.Fatalf("redistest: restart: %v", err)
	}
}

// start runs the process and waits until it answers PING.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	logPath := filepath.Join(s.dir, fmt.Sprintf("redis-%d.log", s.seq))
	args := []string{
		"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no",
		"--dir", s.dir, "--logfile", logPath,
	}
	if s.Password != "" {
		args = append(args, "--requirepass", s.Password)
	}
	if s.cluster {
		args = append(args, "--cluster-enabled", "yes",
			"--cluster-config-file", fmt.Sprintf("nodes-%d.conf", s.seq),
			"--cluster-node-timeout", "5000")
	}
	if s.replicaOf != nil {
		args = append(args, "--replicaof", "127.0.0.1", strconv.Itoa(s.replicaOf.Port))
		if s.Password != "" {
			args = append(args, "--masterauth", s.Password)
		}
	}
	if s.tls != nil {
		args[1] = "0" // no plain port
		args = append(args, "--tls-port", strconv.Itoa(s.Port),
			"--tls-cert-file", filepath.Join(s.dir, certFile),
			"--tls-key-file", filepath.Join(s.dir, keyFile),
			"--tls-ca-cert-file", filepath.Join(s.dir, certFile),
			"--tls-auth-clients", "no")
	}
	if s.sentinel != "" {
		args = append([]string{s.sentinel, "--sentinel"}, args...)
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()

	deadline := time.Now().Add(startTimeout)
	for {
		err := ping(s.Addr, s.tls)
		if err == nil {
			s.cmd, s.done = cmd, done
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("redis-server on port %d exited at start: %s", s.Port, tail(logPath))
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("redis-server on port %d did not answer PING within %v (%v): %s",
				s.Port, startTimeout, err, tail(logPath))
		}
	}
}

// ping sends PING over a fresh connection and accepts any reply: a server
// that requires a password answers -NOAUTH, which says it is up as well.
func ping(addr string, tlsConfig *tls.Config) error {
	d := &net.Dialer{Timeout: time.Second}
	var c net.Conn
	var err error
	if tlsConfig != nil {
		c, err = tls.DialWithDialer(d, "tcp", addr, tlsConfig)
	} else {
		c, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") && !strings.HasPrefix(line, "-NOAUTH") {
		return errors.New("unexpected reply to PING: " + strings.TrimSpace(line))
	}
	return nil
}

// freePort finds a port nobody listens on. A cluster node also needs its
// bus port, port+10000, so for one the search goes on until both are free.
func freePort(cluster bool) (int, error) {
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("find a free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if !cluster {
			return port, nil
		}
		if port+10000 > 65535 {
			continue
		}
		bus, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+10000)))
		if err != nil {
			continue
		}
		_ = bus.Close()
		return port, nil
	}
	return 0, errors.New("find a free port: no port with a free bus port")
}

// tail is the end of the server's log, for start failures.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
