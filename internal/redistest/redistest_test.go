package redistest

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

func TestStartStopRestart(t *testing.T) {
	s := Start(t)
	if s.Addr != net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) {
		t.Fatalf("Addr %q, Port %d", s.Addr, s.Port)
	}
	if got, want := s.URL(3), "redis://"+s.Addr+"/3"; got != want {
		t.Fatalf("URL = %q, want %q", got, want)
	}
	mustPing(t, s, nil)

	s.Stop()
	s.Stop() // idempotent
	if err := ping(s.Addr, nil); err == nil {
		t.Fatal("the server answers after Stop")
	}
	port := s.Port
	s.Restart(t)
	if s.Port != port {
		t.Fatalf("Restart moved the server from port %d to %d", port, s.Port)
	}
	mustPing(t, s, nil)
}

func TestFixedPort(t *testing.T) {
	first := Start(t)
	port := first.Port
	first.Stop()
	again := Start(t, Options{Port: port})
	if again.Port != port {
		t.Fatalf("port %d, want %d", again.Port, port)
	}
	mustPing(t, again, nil)
}

func TestPassword(t *testing.T) {
	s := Start(t, Options{Password: "p@ss:word"})
	u, err := url.Parse(s.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	if pw, _ := u.User.Password(); pw != "p@ss:word" {
		t.Fatalf("URL %q carries password %q", s.URL(0), pw)
	}
	// The server demands it: an unauthenticated PING is refused.
	reply := command(t, s.Addr, nil, "*1\r\n$4\r\nPING\r\n")
	if !strings.HasPrefix(reply, "-NOAUTH") {
		t.Fatalf("PING without AUTH: %q", reply)
	}
}

func TestTLS(t *testing.T) {
	s := Start(t, Options{TLS: true})
	if !strings.HasPrefix(s.URL(0), "rediss://") {
		t.Fatalf("URL %q", s.URL(0))
	}
	mustPing(t, s, s.TLSConfig())
	if err := ping(s.Addr, nil); err == nil {
		t.Fatal("the TLS server answers in plain text")
	}
	if err := ping(s.Addr, &tls.Config{MinVersion: tls.VersionTLS12}); err == nil {
		t.Fatal("a client that does not trust the test certificate got through")
	}
	s.Restart(t)
	mustPing(t, s, s.TLSConfig())
}

func mustPing(t *testing.T, s *Server, cfg *tls.Config) {
	t.Helper()
	if reply := command(t, s.Addr, cfg, "*1\r\n$4\r\nPING\r\n"); reply != "+PONG\r\n" {
		t.Fatalf("PING: %q", reply)
	}
}

// command sends one RESP command and returns the first line of the reply.
func command(t *testing.T, addr string, cfg *tls.Config, cmd string) string {
	t.Helper()
	var c net.Conn
	var err error
	if cfg != nil {
		c, err = tls.Dial("tcp", addr, cfg)
	} else {
		c, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(cmd)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(buf[:n]), "\n")
	return line + "\n"
}

// tbRecorder catches Start's Skipf and Fatalf, which end the goroutine.
type tbRecorder struct {
	testing.TB
	skipped, failed string
}

func (r *tbRecorder) Helper() {}
func (r *tbRecorder) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *tbRecorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestMissingBinary(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, require := range []string{"", "1"} {
		t.Setenv("REQUIRE_REDIS", require)
		r := &tbRecorder{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			Start(r)
		}()
		<-done
		switch {
		case require == "" && (r.skipped == "" || r.failed != ""):
			t.Fatalf("without REQUIRE_REDIS: skipped %q, failed %q; want a skip", r.skipped, r.failed)
		case require == "1" && (r.failed == "" || r.skipped != ""):
			t.Fatalf("with REQUIRE_REDIS=1: skipped %q, failed %q; want a failure", r.skipped, r.failed)
		}
		if msg := r.skipped + r.failed; !strings.Contains(msg, "redis-server") {
			t.Fatalf("message %q does not name redis-server", msg)
		}
	}
}

func TestCluster(t *testing.T) {
	c := StartCluster(t, 3)
	if len(c.Nodes) != 3 || c.URL() != "redis://"+c.Nodes[0].Addr+","+c.Nodes[1].Addr+","+c.Nodes[2].Addr {
		t.Fatalf("URL %q", c.URL())
	}
	for _, node := range c.Nodes {
		info, err := node.String("CLUSTER", "INFO")
		if err != nil || !strings.Contains(info, "cluster_slots_assigned:16384") {
			t.Fatalf("%s: %v %q", node.Addr, err, info)
		}
	}
	// A key is served by one node; the others redirect.
	var moved int
	for _, node := range c.Nodes {
		if _, err := node.Do("SET", "k", "v"); err != nil && strings.HasPrefix(err.Error(), "MOVED") {
			moved++
		}
	}
	if moved != 2 {
		t.Fatalf("%d nodes redirected SET k, want 2", moved)
	}
}

func TestSentinels(t *testing.T) {
	st := StartSentinels(t, 1, 3, Options{Password: "pw"})
	if !strings.HasPrefix(st.URL(2), "redis+sentinel://:pw@") || !strings.HasSuffix(st.URL(2), "/"+MasterName+"/2") {
		t.Fatalf("URL %q", st.URL(2))
	}
	master := st.Master()
	if master != st.Servers[0] {
		t.Fatalf("the sentinels name %v as the master, want %s", master, st.Servers[0].Addr)
	}
	if _, err := master.Do("SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	if n, err := master.String("WAIT", "1", "5000"); err != nil || n != "1" {
		t.Fatalf("WAIT: %q %v", n, err)
	}
	master.Stop()
	promoted := st.WaitFailover(t, master)
	if promoted != st.Servers[1] {
		t.Fatalf("promoted %s", promoted.Addr)
	}
	if v, err := promoted.String("GET", "k"); err != nil || v != "v" {
		t.Fatalf("the promoted replica has k = %q, %v", v, err)
	}
}

func TestLaunch(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("no redis-server")
	}
	s, err := Launch(bin, t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if s.PID() == 0 {
		t.Fatal("no PID")
	}
	if info, err := s.String("INFO", "server"); err != nil || !strings.Contains(info, "process_id:"+strconv.Itoa(s.PID())) {
		t.Fatalf("INFO server: %v %q", err, info)
	}
	s.Stop()
	if s.PID() != 0 {
		t.Fatal("PID after Stop")
	}
}
