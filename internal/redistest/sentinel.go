package redistest

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// MasterName is the name the sentinels of StartSentinels know the master by.
const MasterName = "mymaster"

// Sentinels is a Sentinel setup on loopback: a master, its replicas and the
// sentinels that watch them.
type Sentinels struct {
	// Servers are the data servers: [0] the first master, then its
	// replicas. After a failover another one is the master (see Master).
	Servers []*Server
	// Sentinels watch the master.
	Sentinels []*Server
}

// StartSentinels runs a master with replicas replicas and n sentinels that
// monitor it (quorum: a majority of them; a master that does not answer
// for half a second is down), all sharing o.Password for the data servers,
// and waits until every replica is in sync and every sentinel knows the
// replicas and the other sentinels. Like Start, it skips the test when
// redis-server is missing (unless REQUIRE_REDIS=1), and stops everything
// when it ends.
func StartSentinels(t testing.TB, replicas, n int, o Options) *Sentinels {
	t.Helper()
	if n < 1 || o.TLS {
		t.Fatalf("redistest: %d sentinels, TLS %v", n, o.TLS)
	}
	master := Start(t, Options{Password: o.Password})
	st := &Sentinels{Servers: []*Server{master}}
	for range replicas {
		st.Servers = append(st.Servers, Start(t, Options{Password: o.Password, ReplicaOf: master}))
	}
	for range n {
		dir := t.TempDir()
		conf := filepath.Join(dir, "sentinel.conf")
		lines := []string{
			fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d %d", MasterName, master.Port, n/2+1),
			"sentinel down-after-milliseconds " + MasterName + " 500",
			"sentinel failover-timeout " + MasterName + " 5000",
		}
		if o.Password != "" {
			lines = append(lines, "sentinel auth-pass "+MasterName+" "+o.Password)
		}
		if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		s := &Server{sentinel: conf}
		startServer(t, s, false)
		st.Sentinels = append(st.Sentinels, s)
	}
	st.waitReady(t, replicas, n)
	return st
}

// waitReady waits until the replicas are in sync and every sentinel knows
// them and the others.
func (st *Sentinels) waitReady(t testing.TB, replicas, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	ready := func() error {
		for _, r := range st.Servers[1:] {
			info, err := r.String("INFO", "replication")
			if err != nil || !strings.Contains(info, "master_link_status:up") {
				return fmt.Errorf("replica %s not in sync: %v", r.Addr, err)
			}
		}
		for _, s := range st.Sentinels {
			m, err := st.masterInfo(s)
			if err != nil {
				return err
			}
			if m["num-slaves"] != strconv.Itoa(replicas) || m["num-other-sentinels"] != strconv.Itoa(n-1) {
				return fmt.Errorf("sentinel %s knows %s replicas and %s other sentinels", s.Addr, m["num-slaves"], m["num-other-sentinels"])
			}
		}
		return nil
	}
	for {
		err := ready()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: the sentinel setup did not settle within 30s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// masterInfo is SENTINEL MASTER as a map.
func (st *Sentinels) masterInfo(s *Server) (map[string]string, error) {
	v, err := s.Do("SENTINEL", "MASTER", MasterName)
	if err != nil {
		return nil, err
	}
	fields, _ := v.([]any)
	m := map[string]string{}
	for i := 0; i+1 < len(fields); i += 2 {
		k, _ := fields[i].(string)
		val, _ := fields[i+1].(string)
		m[k] = val
	}
	return m, nil
}

// URL is the setup's redis+sentinel:// URL for database db, with the data
// servers' password.
func (st *Sentinels) URL(db int) string {
	addrs := make([]string, len(st.Sentinels))
	for i, s := range st.Sentinels {
		addrs[i] = s.Addr
	}
	u := url.URL{Scheme: "redis+sentinel", Host: strings.Join(addrs, ","), Path: fmt.Sprintf("/%s/%d", MasterName, db)}
	if pw := st.Servers[0].Password; pw != "" {
		u.User = url.UserPassword("", pw)
	}
	return u.String()
}

// Master is the data server every sentinel names as the master, or nil
// while they disagree.
func (st *Sentinels) Master() *Server {
	var addr string
	for _, s := range st.Sentinels {
		v, err := s.Do("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MasterName)
		hostPort, _ := v.([]any)
		if err != nil || len(hostPort) != 2 {
			return nil
		}
		host, _ := hostPort[0].(string)
		port, _ := hostPort[1].(string)
		a := net.JoinHostPort(host, port)
		if addr != "" && a != addr {
			return nil
		}
		addr = a
	}
	for _, srv := range st.Servers {
		if srv.Addr == addr {
			return srv
		}
	}
	return nil
}

// WaitFailover waits until every sentinel names a master other than old
// and that server says it is the master; it returns it.
func (st *Sentinels) WaitFailover(t testing.TB, old *Server) *Server {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := st.Master(); m != nil && m != old {
			if info, err := m.String("INFO", "replication"); err == nil && strings.Contains(info, "role:master") {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: no failover away from %s within 30s", old.Addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
