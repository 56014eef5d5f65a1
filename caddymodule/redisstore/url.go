package redisstore

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// ParseURL reads the URL of a redis store into options for
// redis.NewUniversalClient. The forms:
//
//	redis://[[user]:password@]host[:port][/db][?option=value&...]
//	    one server; port 6379 and database 0 unless given
//	rediss://...
//	    any form, over TLS (certificates checked against the host names)
//	redis://[[user]:password@]host1[:port1],host2[:port2],...[?...]
//	    Redis Cluster, seeded with the nodes listed
//	redis://[[user]:password@]host[:port]?cluster=true[&...]
//	    Redis Cluster with one seed (a cluster's configuration endpoint)
//	redis://host1:port1?addr=host2:port2&addr=host3:port3
//	    Redis Cluster, in go-redis's own form (redis.ParseClusterURL)
//
// The options are go-redis's (dial_timeout, read_timeout, pool_size,
// max_retries, ...; see redis.ParseURL and redis.ParseClusterURL); an
// unknown one is an error. A cluster has database 0 only, so a cluster URL
// with another database is an error rather than a silent change of meaning.
//
// The options always have ContextTimeoutEnabled set: the Store's per-call
// timeouts then bound the network waits too, so that a server that hangs
// costs CallTimeout, not go-redis's read timeout. Unless the URL says
// otherwise, a call dials once and retries once, at once (see below).
func ParseURL(rawURL string) (*redis.UniversalOptions, error) {
	opts, err := parseURL(rawURL)
	if err != nil {
		// The URL may hold a password: the error never quotes it.
		return nil, fmt.Errorf("redisstore: invalid redis URL: %w", err)
	}
	opts.ContextTimeoutEnabled = true
	// go-redis's defaults (five dial attempts 100 ms apart, three retries
	// with backoff) spend the whole CallTimeout of every call on a server
	// that refuses connections. One dial and one immediate retry (which
	// still replaces a connection the server closed) fail such a call at
	// once, and the guard forwards or rejects without the wait. Values the
	// URL gives win.
	if opts.DialerRetries == 0 {
		opts.DialerRetries = 1
	}
	if opts.MaxRetries == 0 {
		opts.MaxRetries = 1
	}
	if opts.MinRetryBackoff == 0 {
		opts.MinRetryBackoff = -1 // none
	}
	// RESP2 unless the URL asks for RESP3 (?protocol=3): with RESP3,
	// go-redis looks for pending push notifications around every command,
	// which the benchmark showed at ~3% of Caddy's CPU; the store uses no
	// RESP3 feature.
	if opts.Protocol == 0 {
		opts.Protocol = 2
	}
	return opts, nil
}

// NewClient returns a client for rawURL (see ParseURL): a single-server
// client, or a cluster client for the cluster forms. The caller closes it.
func NewClient(rawURL string) (redis.UniversalClient, error) {
	opts, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	return redis.NewUniversalClient(opts), nil
}

func parseURL(rawURL string) (*redis.UniversalOptions, error) {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok || (scheme != "redis" && scheme != "rediss") {
		return nil, errors.New("the scheme must be redis:// or rediss://")
	}
	// The authority ends at the path, query or fragment. A list of hosts
	// (and IPv6 literals in it) is more than net/url parses, so it is split
	// here, before the rest goes to go-redis's parsers.
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	userinfo, hostlist := "", authority
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		userinfo, hostlist = authority[:at+1], authority[at+1:]
	}
	hosts := strings.Split(hostlist, ",")
	for _, h := range hosts {
		if h == "" || strings.HasPrefix(h, ":") {
			return nil, errors.New("a host is missing")
		}
	}
	u, err := url.Parse(scheme + "://" + userinfo + hosts[0] + tail)
	if err != nil {
		return nil, errors.New("malformed URL") // url.Error quotes the URL
	}
	if u.Fragment != "" {
		return nil, errors.New("a redis URL has no fragment")
	}
	q := u.Query()
	cluster := len(hosts) > 1 || q.Has("addr")
	if q.Has("cluster") {
		switch q.Get("cluster") {
		case "true", "1":
			cluster = true
		case "false", "0":
			if cluster {
				return nil, errors.New("cluster=false with several hosts")
			}
		default:
			return nil, errors.New("cluster must be true or false")
		}
		q.Del("cluster")
	}
	if !cluster {
		u.RawQuery = q.Encode()
		o, err := redis.ParseURL(u.String())
		if err != nil {
			return nil, err
		}
		return universalFromSimple(o), nil
	}

	switch strings.Trim(u.Path, "/") {
	case "", "0":
	default:
		return nil, errors.New("Redis Cluster has database 0 only")
	}
	if q.Has("db") {
		return nil, errors.New("Redis Cluster has database 0 only")
	}
	for _, h := range hosts[1:] {
		host, port, err := net.SplitHostPort(h)
		if err != nil {
			host, port = strings.Trim(h, "[]"), "6379"
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 || host == "" {
			return nil, errors.New("a host's port is not a port number")
		}
		q.Add("addr", net.JoinHostPort(host, port))
	}
	u.Path, u.RawPath, u.RawQuery = "", "", q.Encode()
	o, err := redis.ParseClusterURL(u.String())
	if err != nil {
		return nil, err
	}
	return universalFromCluster(o), nil
}

// universalFromSimple carries over what redis.ParseURL may set.
func universalFromSimple(o *redis.Options) *redis.UniversalOptions {
	return &redis.UniversalOptions{
		Addrs:      []string{o.Addr},
		ClientName: o.ClientName,
		DB:         o.DB,
		Protocol:   o.Protocol,
		Username:   o.Username,
		Password:   o.Password,

		MaxRetries:      o.MaxRetries,
		MinRetryBackoff: o.MinRetryBackoff,
		MaxRetryBackoff: o.MaxRetryBackoff,

		DialTimeout:        o.DialTimeout,
		DialerRetries:      o.DialerRetries,
		DialerRetryTimeout: o.DialerRetryTimeout,
		ReadTimeout:        o.ReadTimeout,
		WriteTimeout:       o.WriteTimeout,

		PipelineReadBufferSize:  o.PipelineReadBufferSize,
		PipelineWriteBufferSize: o.PipelineWriteBufferSize,
		PipelinePoolSize:        o.PipelinePoolSize,

		PoolFIFO:              o.PoolFIFO,
		PoolSize:              o.PoolSize,
		MaxConcurrentDials:    o.MaxConcurrentDials,
		PoolTimeout:           o.PoolTimeout,
		MinIdleConns:          o.MinIdleConns,
		MaxIdleConns:          o.MaxIdleConns,
		MaxActiveConns:        o.MaxActiveConns,
		ConnMaxIdleTime:       o.ConnMaxIdleTime,
		ConnMaxLifetime:       o.ConnMaxLifetime,
		ConnMaxLifetimeJitter: o.ConnMaxLifetimeJitter,

		TLSConfig: o.TLSConfig,
	}
}

// universalFromCluster carries over what redis.ParseClusterURL may set.
func universalFromCluster(o *redis.ClusterOptions) *redis.UniversalOptions {
	u := &redis.UniversalOptions{
		Addrs:         o.Addrs,
		IsClusterMode: true,
		ClientName:    o.ClientName,
		Protocol:      o.Protocol,
		Username:      o.Username,
		Password:      o.Password,

		MaxRedirects:            o.MaxRedirects,
		ReadOnly:                o.ReadOnly,
		RouteByLatency:          o.RouteByLatency,
		RouteByLatencyTolerance: o.RouteByLatencyTolerance,
		RouteRandomly:           o.RouteRandomly,

		MaxRetries:      o.MaxRetries,
		MinRetryBackoff: o.MinRetryBackoff,
		MaxRetryBackoff: o.MaxRetryBackoff,

		DialTimeout:        o.DialTimeout,
		DialerRetries:      o.DialerRetries,
		DialerRetryTimeout: o.DialerRetryTimeout,
		ReadTimeout:        o.ReadTimeout,
		WriteTimeout:       o.WriteTimeout,

		PipelineReadBufferSize:  o.PipelineReadBufferSize,
		PipelineWriteBufferSize: o.PipelineWriteBufferSize,
		PipelinePoolSize:        o.PipelinePoolSize,

		PoolFIFO:              o.PoolFIFO,
		PoolSize:              o.PoolSize,
		MaxConcurrentDials:    o.MaxConcurrentDials,
		PoolTimeout:           o.PoolTimeout,
		MinIdleConns:          o.MinIdleConns,
		MaxIdleConns:          o.MaxIdleConns,
		MaxActiveConns:        o.MaxActiveConns,
		ConnMaxIdleTime:       o.ConnMaxIdleTime,
		ConnMaxLifetime:       o.ConnMaxLifetime,
		ConnMaxLifetimeJitter: o.ConnMaxLifetimeJitter,

		FailingTimeoutSeconds: o.FailingTimeoutSeconds,
	}
	if o.TLSConfig != nil {
		// go-redis names the first seed as the server of every node; left
		// empty, each node's certificate is checked against its own host.
		u.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return u
}
