package redisstore

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/callbackguard/callbackguard/caddymodule/dedupe"
	"github.com/callbackguard/callbackguard/internal/redistest"
)

func TestParseURL(t *testing.T) {
	type want struct {
		addrs    []string
		cluster  bool
		db       int
		user     string
		password string
		tls      bool
		// serverName is the TLS ServerName; "" lets each node's host be
		// checked (cluster).
		serverName  string
		dialTimeout time.Duration
		maxRetries  int
	}
	cases := []struct {
		url  string
		want want
	}{
		{"redis://localhost:6379", want{addrs: []string{"localhost:6379"}}},
		{"redis://localhost", want{addrs: []string{"localhost:6379"}}},
		{"redis://10.0.0.5:6380/3", want{addrs: []string{"10.0.0.5:6380"}, db: 3}},
		{"redis://h/", want{addrs: []string{"h:6379"}}},
		{"redis://:s3cret@h:6379/0", want{addrs: []string{"h:6379"}, password: "s3cret"}},
		{"redis://guard:p%40ss%2Fw@h:6379/1", want{addrs: []string{"h:6379"}, db: 1, user: "guard", password: "p@ss/w"}},
		{"redis://[::1]:6379/2", want{addrs: []string{"[::1]:6379"}, db: 2}},
		{"rediss://:pw@cache.example:6380/0", want{addrs: []string{"cache.example:6380"}, password: "pw", tls: true, serverName: "cache.example"}},
		{"redis://h:6379/0?dial_timeout=2s&max_retries=4", want{addrs: []string{"h:6379"}, dialTimeout: 2 * time.Second, maxRetries: 4}},
		{"redis://h:6379?cluster=false", want{addrs: []string{"h:6379"}}},

		// Redis Cluster.
		{"redis://n1:7000,n2:7001,n3:7002", want{addrs: []string{"n1:7000", "n2:7001", "n3:7002"}, cluster: true}},
		{"redis://:pw@n1:7000,n2", want{addrs: []string{"n1:7000", "n2:6379"}, cluster: true, password: "pw"}},
		{"redis://[::1]:7000,[::2]:7001,[::3]/0", want{addrs: []string{"[::1]:7000", "[::2]:7001", "[::3]:6379"}, cluster: true}},
		{"rediss://u:pw@n1:7000,n2:7001", want{addrs: []string{"n1:7000", "n2:7001"}, cluster: true, user: "u", password: "pw", tls: true}},
		{"redis://cfg.example:6379?cluster=true", want{addrs: []string{"cfg.example:6379"}, cluster: true}},
		{"redis://n1:7000?addr=n2:7001&addr=n3:7002", want{addrs: []string{"n1:7000", "n2:7001", "n3:7002"}, cluster: true}},
		{"redis://n1:7000,n2:7001?cluster=1&read_only=true", want{addrs: []string{"n1:7000", "n2:7001"}, cluster: true}},
	}
	for _, tc := range cases {
		t.Run(tc.url, func(t *testing.T) {
			o, err := ParseURL(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			w := tc.want
			if !reflect.DeepEqual(o.Addrs, w.addrs) || o.IsClusterMode != w.cluster || o.DB != w.db ||
				o.Username != w.user || o.Password != w.password {
				t.Fatalf("got addrs %v cluster %v db %d user %q password %q, want %+v",
					o.Addrs, o.IsClusterMode, o.DB, o.Username, o.Password, w)
			}
			if (o.TLSConfig != nil) != w.tls {
				t.Fatalf("TLS %v, want %v", o.TLSConfig != nil, w.tls)
			}
			if o.TLSConfig != nil && o.TLSConfig.ServerName != w.serverName {
				t.Fatalf("TLS ServerName %q, want %q", o.TLSConfig.ServerName, w.serverName)
			}
			if o.DialTimeout != w.dialTimeout {
				t.Fatalf("DialTimeout %v, want %v", o.DialTimeout, w.dialTimeout)
			}
			if !o.ContextTimeoutEnabled {
				t.Fatal("ContextTimeoutEnabled is off: CallTimeout would not bound a hung server")
			}
			if wantRetries := max(w.maxRetries, 1); o.MaxRetries != wantRetries || o.DialerRetries != 1 {
				t.Fatalf("MaxRetries %d DialerRetries %d, want %d and 1", o.MaxRetries, o.DialerRetries, wantRetries)
			}
			if strings.Contains(tc.url, "read_only") && !o.ReadOnly {
				t.Fatal("a cluster option was lost")
			}
		})
	}
}

func TestParseURLRejects(t *testing.T) {
	for _, raw := range []string{
		"",
		"localhost:6379",
		"http://h:6379",
		"unix:///run/redis.sock",
		"redis://",
		"redis://:pw@",
		"redis://:6379",
		"redis://h:port",
		"redis://h:6379/x",
		"redis://h:6379/1/2",
		"redis://h:6379/0?unknown=1",
		"redis://h:6379/0?dial_timeout=soon",
		"redis://h:6379#frag",
		"redis://h:6379?cluster=maybe",
		"redis://n1:7000,n2:7001?cluster=false",
		"redis://n1:7000,,n2:7001",
		"redis://n1:7000,n2:abc",
		"redis://n1:7000,n2:70000",
		"redis://n1:7000,n2:7001/1",
		"redis://n1:7000,n2:7001?db=2",
		"redis://h:6379?cluster=true&db=1",
		"redis://n1:7000?addr=n2",
		"redis://:p%zzw@h:6379",
	} {
		t.Run(raw, func(t *testing.T) {
			o, err := ParseURL(raw)
			if err == nil {
				t.Fatalf("accepted: %+v", o)
			}
			if !strings.HasPrefix(err.Error(), "redisstore: invalid redis URL: ") {
				t.Fatalf("error %q", err)
			}
			if c, err := NewClient(raw); err == nil {
				_ = c.Close()
				t.Fatal("NewClient accepted it")
			}
		})
	}
}

// TestParseURLErrorsHideThePassword: a configuration error is logged, so
// it must not carry the URL's password.
func TestParseURLErrorsHideThePassword(t *testing.T) {
	for _, raw := range []string{
		"redis://:hunter2@h:6379/x",
		"redis://:hunter2@h:6379/0?nope=1",
		"redis://:hunter2@h:6379 /0",
		"redis://u:hunter2@n1:7000,n2:x",
		"redis://:hunter2%@h:6379",
	} {
		_, err := ParseURL(raw)
		if err == nil {
			t.Fatalf("%q accepted", raw)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Fatalf("error shows the password: %v", err)
		}
	}
}

func TestPassword(t *testing.T) {
	const password = "s3cr:et/@x"
	srv := redistest.Start(t, redistest.Options{Password: password})
	if !strings.Contains(srv.URL(0), "%40") {
		t.Fatalf("URL %q does not escape the password", srv.URL(0))
	}
	s := newInstance(t, srv, Options{})
	c := mustClaim(t, s, "k", dedupe.Claimed)
	mustDo(t, "Complete", s.Complete(t.Context(), "k", c.Token, answerFor("k"), ttl))
	mustClaim(t, s, "k", dedupe.Answered)

	for name, raw := range map[string]string{
		"wrong password": "redis://:nope@" + srv.Addr + "/0",
		"no password":    "redis://" + srv.Addr + "/0",
	} {
		t.Run(name, func(t *testing.T) {
			client, err := NewClient(raw)
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			bad := New(client, Options{Prefix: s.prefix})
			defer bad.Close()
			if _, err := bad.Claim(t.Context(), "k", claimTTL); err == nil {
				t.Fatal("Claim without the right password: no error")
			} else {
				t.Logf("Claim: %v", err)
			}
		})
	}
}

// TestTLS: a rediss:// URL speaks TLS to the server and checks its
// certificate (here against the test's own CA).
func TestTLS(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{TLS: true, Password: "pw"})
	connect := func(t *testing.T, trust bool) *Store {
		o, err := ParseURL(srv.URL(0))
		if err != nil {
			t.Fatal(err)
		}
		if o.TLSConfig == nil {
			t.Fatalf("%s: no TLS", srv.URL(0))
		}
		if trust {
			o.TLSConfig.RootCAs = srv.TLSConfig().RootCAs
		}
		client := redis.NewUniversalClient(o)
		t.Cleanup(func() { _ = client.Close() })
		s := New(client, Options{Prefix: testPrefix(t)})
		t.Cleanup(s.Close)
		return s
	}
	t.Run("trusted", func(t *testing.T) {
		s := connect(t, true)
		c := mustClaim(t, s, "k", dedupe.Claimed)
		mustDo(t, "Complete", s.Complete(t.Context(), "k", c.Token, answerFor("k"), ttl))
		mustClaim(t, s, "k", dedupe.Answered)
	})
	t.Run("unknown certificate", func(t *testing.T) {
		s := connect(t, false)
		if _, err := s.Claim(t.Context(), "k", claimTTL); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("Claim against an untrusted certificate: %v", err)
		}
	})
	t.Run("plain text to a TLS port", func(t *testing.T) {
		client, err := NewClient(strings.Replace(srv.URL(0), "rediss://", "redis://", 1))
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		s := New(client, Options{Prefix: testPrefix(t)})
		defer s.Close()
		if _, err := s.Claim(t.Context(), "k", claimTTL); err == nil {
			t.Fatal("Claim in plain text to a TLS server: no error")
		}
	})
}
