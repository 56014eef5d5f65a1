package redisstore

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// ParseURL reads the URL of a redis store into the client's options. The
// forms:
//
//	redis://[[user]:password@]host[:port][/db][?option=value&...]
//	    one server (port 6379 and database 0 unless given), or a Redis
//	    Cluster when the server is a node of one (the client asks it)
//	rediss://...
//	    any form, over TLS (certificates checked against the host names)
//	redis://[[user]:password@]host1[:port1],host2[:port2],...[?...]
//	    Redis Cluster, seeded with the nodes listed
//	redis://host1:port1?addr=host2:port2&addr=host3:port3
//	    the same, in the form of the client libraries' own URLs
//	redis+sentinel://[[user]:password@]host1[:port1],.../master[/db][?...]
//	rediss+sentinel://...
//	    the master named master of a Sentinel setup, found through the
//	    sentinels listed (port 26379 unless given); the user and password
//	    are the master's, sentinel_username and sentinel_password the
//	    sentinels'
//
// The options: dial_timeout and write_timeout (Go durations), client_name,
// protocol (2 or 3; 3 when the server speaks it), skip_verify=true (rediss
// only: no certificate check), cluster=true|false (accepted for older
// configurations: the client finds out itself), and the sentinel options
// above. An unknown option is an error. A cluster has database 0 only, so a
// cluster URL with another database is an error rather than a silent change
// of meaning.
func ParseURL(rawURL string) (rueidis.ClientOption, error) {
	opt, err := parseURL(rawURL)
	if err != nil {
		// The URL may hold a password: the error never quotes it.
		return rueidis.ClientOption{}, fmt.Errorf("redisstore: invalid redis URL: %w", err)
	}
	// The store reads no key twice, so the client-side cache would only
	// cost a CLIENT TRACKING per connection.
	opt.DisableCache = true
	return opt, nil
}

// urlOptions are the query options ParseURL knows.
var urlOptions = map[string]bool{
	"addr": true, "db": true, "cluster": true, "dial_timeout": true, "write_timeout": true,
	"client_name": true, "protocol": true, "skip_verify": true,
	"sentinel_username": true, "sentinel_password": true,
}

// parseURL is ParseURL without the prefix of its errors and the cache
// setting.
func parseURL(rawURL string) (rueidis.ClientOption, error) {
	var opt rueidis.ClientOption
	scheme, rest, ok := strings.Cut(rawURL, "://")
	sentinel := strings.HasSuffix(scheme, "+sentinel")
	scheme = strings.TrimSuffix(scheme, "+sentinel")
	if !ok || (scheme != "redis" && scheme != "rediss") {
		return opt, errors.New("the scheme must be redis://, rediss://, redis+sentinel:// or rediss+sentinel://")
	}
	u, hostlist, err := splitURL(scheme, rest)
	if err != nil {
		return opt, err
	}
	q := u.Query()
	for name := range q {
		if !urlOptions[name] {
			return opt, fmt.Errorf("unknown option %q", name)
		}
	}
	if err := parseHosts(&opt, hostlist, q["addr"], sentinel); err != nil {
		return opt, err
	}
	if u.User != nil {
		opt.Username = u.User.Username()
		opt.Password, _ = u.User.Password()
	}
	if err := parseTLS(&opt, scheme, q); err != nil {
		return opt, err
	}
	if err := parseOptions(&opt, q); err != nil {
		return opt, err
	}
	path := strings.Trim(u.Path, "/")
	if sentinel {
		return opt, parseSentinel(&opt, path, q)
	}
	return opt, parseDirect(&opt, path, q)
}

// splitURL parses the URL after its scheme but for its list of hosts, which
// it returns as written: a list of hosts (and IPv6 literals in it) is more
// than net/url parses.
func splitURL(scheme, rest string) (*url.URL, string, error) {
	// The authority ends at the path, query or fragment.
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	userinfo, hostlist := "", authority
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		userinfo, hostlist = authority[:at+1], authority[at+1:]
	}
	u, err := url.Parse(scheme + "://" + userinfo + "host" + tail)
	if err != nil {
		return nil, "", errors.New("malformed URL") // url.Error quotes the URL
	}
	if u.Fragment != "" {
		return nil, "", errors.New("a redis URL has no fragment")
	}
	return u, hostlist, nil
}

// parseHosts sets the addresses to dial first: the hosts of the URL, then
// those of its addr options, each with the default port of its form unless
// it has one.
func parseHosts(opt *rueidis.ClientOption, hostlist string, addrs []string, sentinel bool) error {
	defaultPort := "6379"
	if sentinel {
		defaultPort = "26379"
	}
	hosts := strings.Split(hostlist, ",")
	for _, h := range append(hosts, addrs...) {
		addr, err := hostPort(h, defaultPort)
		if err != nil {
			return err
		}
		opt.InitAddress = append(opt.InitAddress, addr)
	}
	return nil
}

// parseTLS sets up TLS for rediss, with the skip_verify option, which
// redis:// refuses.
func parseTLS(opt *rueidis.ClientOption, scheme string, q url.Values) error {
	if scheme != "rediss" {
		if q.Has("skip_verify") {
			return errors.New("skip_verify is for rediss:// only")
		}
		return nil
	}
	opt.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if v := q.Get("skip_verify"); v != "" {
		var err error
		if opt.TLSConfig.InsecureSkipVerify, err = strconv.ParseBool(v); err != nil {
			return errors.New("skip_verify must be true or false")
		}
	}
	return nil
}

// parseDirect reads the database and the cluster option of a URL without
// sentinels: one server or a cluster.
func parseDirect(opt *rueidis.ClientOption, path string, q url.Values) error {
	if q.Has("sentinel_username") || q.Has("sentinel_password") {
		return errors.New("sentinel options need redis+sentinel://")
	}
	db, err := database(path, q)
	if err != nil {
		return err
	}
	cluster := len(opt.InitAddress) > 1
	switch q.Get("cluster") {
	case "", "true", "1":
	case "false", "0":
		if cluster {
			return errors.New("cluster=false with several hosts")
		}
	default:
		return errors.New("cluster must be true or false")
	}
	if db != 0 && (cluster || q.Has("cluster")) {
		return errors.New("a Redis Cluster has database 0 only")
	}
	opt.SelectDB = db
	return nil
}

// parseOptions applies the options every form shares.
func parseOptions(opt *rueidis.ClientOption, q url.Values) error {
	for name, field := range map[string]*time.Duration{"dial_timeout": &opt.Dialer.Timeout, "write_timeout": &opt.ConnWriteTimeout} {
		if v := q.Get(name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return fmt.Errorf("%s must be a positive duration such as 2s", name)
			}
			*field = d
		}
	}
	switch q.Get("protocol") {
	case "", "3":
	case "2":
		opt.AlwaysRESP2 = true
	default:
		return errors.New("protocol must be 2 or 3")
	}
	opt.ClientName = q.Get("client_name")
	return nil
}

// parseSentinel reads the master's name and database from path, and the
// sentinels' own credentials.
func parseSentinel(opt *rueidis.ClientOption, path string, q url.Values) error {
	master, dbPath, _ := strings.Cut(path, "/")
	if master == "" {
		return errors.New("a sentinel URL names the master: redis+sentinel://host:26379/mymaster")
	}
	if q.Has("cluster") {
		return errors.New("cluster is no option of a sentinel URL")
	}
	db, err := database(dbPath, q)
	if err != nil {
		return err
	}
	opt.SelectDB = db
	opt.Sentinel = rueidis.SentinelOption{
		MasterSet: master,
		Username:  q.Get("sentinel_username"),
		Password:  q.Get("sentinel_password"),
		Dialer:    opt.Dialer,
	}
	if opt.TLSConfig != nil {
		opt.Sentinel.TLSConfig = opt.TLSConfig.Clone()
	}
	return nil
}

// database is the database number from the URL's path or its db option.
func database(path string, q url.Values) (int, error) {
	if path != "" && q.Has("db") {
		return 0, errors.New("the database is given twice")
	}
	if q.Has("db") {
		path = q.Get("db")
	}
	if path == "" {
		return 0, nil
	}
	db, err := strconv.Atoi(path)
	if err != nil || db < 0 {
		return 0, errors.New("the database must be a number")
	}
	return db, nil
}

// hostPort checks one host of the URL and adds the default port.
func hostPort(h, defaultPort string) (string, error) {
	if h == "" || strings.HasPrefix(h, ":") {
		return "", errors.New("a host is missing")
	}
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		host, port = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), defaultPort
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", errors.New("a host's port is not a port number")
	}
	if host == "" || strings.ContainsAny(host, "[]/@ ") {
		return "", errors.New("a host name is malformed")
	}
	return net.JoinHostPort(host, port), nil
}
