package redisstore

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/caddymodule/dedupe"
	"github.com/callbackguard/callbackguard/internal/redistest"
)

func TestParseURL(t *testing.T) {
	type want struct {
		addrs    []string
		db       int
		user     string
		password string
		tls      bool
		master   string // the sentinel's master name
		// sentinelUser and sentinelPassword are the sentinels' own.
		sentinelUser, sentinelPassword string
		dialTimeout                    time.Duration
		resp2                          bool
	}
	cases := []struct {
		url  string
		want want
	}{
		{"redis://localhost:6379", want{addrs: []string{"localhost:6379"}}},
		{"redis://localhost", want{addrs: []string{"localhost:6379"}}},
		{"redis://10.0.0.5:6380/3", want{addrs: []string{"10.0.0.5:6380"}, db: 3}},
		{"redis://h/", want{addrs: []string{"h:6379"}}},
		{"redis://h?db=4", want{addrs: []string{"h:6379"}, db: 4}},
		{"redis://:s3cret@h:6379/0", want{addrs: []string{"h:6379"}, password: "s3cret"}},
		{"redis://guard:p%40ss%2Fw@h:6379/1", want{addrs: []string{"h:6379"}, db: 1, user: "guard", password: "p@ss/w"}},
		{"redis://[::1]:6379/2", want{addrs: []string{"[::1]:6379"}, db: 2}},
		{"rediss://:pw@cache.example:6380/0", want{addrs: []string{"cache.example:6380"}, password: "pw", tls: true}},
		{"redis://h:6379/0?dial_timeout=2s&protocol=2", want{addrs: []string{"h:6379"}, dialTimeout: 2 * time.Second, resp2: true}},
		{"redis://h:6379?cluster=false", want{addrs: []string{"h:6379"}}},

		// Redis Cluster.
		{"redis://n1:7000,n2:7001,n3:7002", want{addrs: []string{"n1:7000", "n2:7001", "n3:7002"}}},
		{"redis://:pw@n1:7000,n2", want{addrs: []string{"n1:7000", "n2:6379"}, password: "pw"}},
		{"redis://[::1]:7000,[::2]:7001,[::3]/0", want{addrs: []string{"[::1]:7000", "[::2]:7001", "[::3]:6379"}}},
		{"rediss://u:pw@n1:7000,n2:7001", want{addrs: []string{"n1:7000", "n2:7001"}, user: "u", password: "pw", tls: true}},
		{"redis://cfg.example:6379?cluster=true", want{addrs: []string{"cfg.example:6379"}}},
		{"redis://n1:7000?addr=n2:7001&addr=n3:7002", want{addrs: []string{"n1:7000", "n2:7001", "n3:7002"}}},

		// Sentinel.
		{"redis+sentinel://s1,s2:26380/mymaster", want{addrs: []string{"s1:26379", "s2:26380"}, master: "mymaster"}},
		{"redis+sentinel://:pw@s1:26379/mymaster/2", want{addrs: []string{"s1:26379"}, master: "mymaster", password: "pw", db: 2}},
		{"redis+sentinel://s1/m?sentinel_username=su&sentinel_password=sp", want{addrs: []string{"s1:26379"}, master: "m", sentinelUser: "su", sentinelPassword: "sp"}},
		{"rediss+sentinel://s1:26379/m", want{addrs: []string{"s1:26379"}, master: "m", tls: true}},
	}
	for _, tc := range cases {
		t.Run(tc.url, func(t *testing.T) {
			o, err := ParseURL(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			w := tc.want
			if !reflect.DeepEqual(o.InitAddress, w.addrs) || o.SelectDB != w.db || o.Username != w.user || o.Password != w.password {
				t.Fatalf("got addrs %v db %d user %q password %q, want %+v", o.InitAddress, o.SelectDB, o.Username, o.Password, w)
			}
			if (o.TLSConfig != nil) != w.tls || (w.master != "" && (o.Sentinel.TLSConfig != nil) != w.tls) {
				t.Fatalf("TLS %v, sentinels' TLS %v, want %v", o.TLSConfig != nil, o.Sentinel.TLSConfig != nil, w.tls)
			}
			if o.TLSConfig != nil && (o.TLSConfig.InsecureSkipVerify || o.TLSConfig.ServerName != "") {
				t.Fatal("TLS must check each server's certificate against the host dialled")
			}
			if o.Sentinel.MasterSet != w.master || o.Sentinel.Username != w.sentinelUser || o.Sentinel.Password != w.sentinelPassword {
				t.Fatalf("sentinel %+v, want %+v", o.Sentinel, w)
			}
			if o.Dialer.Timeout != w.dialTimeout || o.AlwaysRESP2 != w.resp2 {
				t.Fatalf("dial timeout %v RESP2 %v, want %+v", o.Dialer.Timeout, o.AlwaysRESP2, w)
			}
			if !o.DisableCache {
				t.Fatal("the client-side cache is on")
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
		"redis+cluster://h",
		"redis://",
		"redis://:pw@",
		"redis://:6379",
		"redis://h:port",
		"redis://h:6379/x",
		"redis://h:6379/-1",
		"redis://h:6379/1/2",
		"redis://h:6379/1?db=2",
		"redis://h:6379/0?unknown=1",
		"redis://h:6379/0?pool_size=10",
		"redis://h:6379/0?dial_timeout=soon",
		"redis://h:6379/0?dial_timeout=-1s",
		"redis://h:6379/0?protocol=4",
		"redis://h:6379?skip_verify=true",
		"rediss://h:6379?skip_verify=maybe",
		"redis://h:6379#frag",
		"redis://h:6379?cluster=maybe",
		"redis://n1:7000,n2:7001?cluster=false",
		"redis://n1:7000,,n2:7001",
		"redis://n1:7000,n2:abc",
		"redis://n1:7000,n2:70000",
		"redis://n1:7000,n2:7001/1",
		"redis://n1:7000,n2:7001?db=2",
		"redis://h:6379?cluster=true&db=1",
		"redis://n1:7000?addr=:7001",
		"redis://:p%zzw@h:6379",
		"redis://h:6379?sentinel_password=x",
		"redis+sentinel://s1:26379",
		"redis+sentinel://s1:26379/",
		"redis+sentinel://s1:26379/m/x",
		"redis+sentinel://s1:26379/m?cluster=true",
	} {
		t.Run(raw, func(t *testing.T) {
			o, err := ParseURL(raw)
			if err == nil {
				t.Fatalf("accepted: %+v", o)
			}
			if !strings.HasPrefix(err.Error(), "redisstore: invalid redis URL: ") {
				t.Fatalf("error %q", err)
			}
			if s, err := Open(raw, Options{}); err == nil {
				s.Close()
				t.Fatal("Open accepted it")
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
		"redis+sentinel://:hunter2@s1:26379",
		"redis+sentinel://s1:26379/m?sentinel_password=hunter2&x=1",
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
	s := newInstance(t, srv.URL(0), Options{})
	c := mustClaim(t, s, "k", dedupe.Claimed)
	mustDo(t, "Complete", s.Complete(t.Context(), "k", c.Token, answerFor("k"), ttl))
	mustClaim(t, s, "k", dedupe.Answered)

	for name, raw := range map[string]string{
		"wrong password": "redis://:nope@" + srv.Addr + "/0",
		"no password":    "redis://" + srv.Addr + "/0",
	} {
		t.Run(name, func(t *testing.T) {
			bad := newInstance(t, raw, Options{Prefix: s.prefix})
			if _, err := bad.Claim(t.Context(), "k", claimTTL); err == nil {
				t.Fatal("Claim without the right password: no error")
			} else if strings.Contains(err.Error(), "nope") {
				t.Fatalf("the error shows the password: %v", err)
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
	connect := func(t *testing.T, raw string, trust bool) *Store {
		o, err := ParseURL(raw)
		if err != nil {
			t.Fatal(err)
		}
		if trust {
			o.TLSConfig.RootCAs = srv.TLSConfig().RootCAs
		}
		s, err := New(o, Options{Prefix: testPrefix(t), CallTimeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		waitDialed(s)
		return s
	}
	t.Run("trusted", func(t *testing.T) {
		s := connect(t, srv.URL(0), true)
		c := mustClaim(t, s, "k", dedupe.Claimed)
		mustDo(t, "Complete", s.Complete(t.Context(), "k", c.Token, answerFor("k"), ttl))
		mustClaim(t, s, "k", dedupe.Answered)
	})
	t.Run("unknown certificate", func(t *testing.T) {
		s := connect(t, srv.URL(0), false)
		if _, err := s.Claim(t.Context(), "k", claimTTL); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("Claim against an untrusted certificate: %v", err)
		}
	})
	t.Run("plain text to a TLS port", func(t *testing.T) {
		s := connect(t, strings.Replace(srv.URL(0), "rediss://", "redis://", 1), false)
		if _, err := s.Claim(t.Context(), "k", claimTTL); err == nil {
			t.Fatal("Claim in plain text to a TLS server: no error")
		}
	})
}
