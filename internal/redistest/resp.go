package redistest

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// Do sends one command to the server over a fresh connection (after AUTH
// when it has a password) and returns the reply: a string (a status or a
// bulk string), an int64, nil, or a []any of those; an error reply is
// returned as an error. Tests read the server's state with it, with no
// client library between them and the server.
func (s *Server) Do(args ...string) (any, error) {
	return do(s.Addr, s.tls, s.Password, args...)
}

// String is Do for a command whose reply is text or a number; it fails on
// an error, an array or nil.
func (s *Server) String(args ...string) (string, error) {
	return asString(s.Do(args...))
}

func asString(v any, err error) (string, error) {
	if err != nil {
		return "", err
	}
	switch v := v.(type) {
	case string:
		return v, nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	}
	return "", fmt.Errorf("reply %v is no string", v)
}

// do runs one command on addr.
func do(addr string, tlsConfig *tls.Config, password string, args ...string) (any, error) {
	d := &net.Dialer{Timeout: time.Second}
	var conn net.Conn
	var err error
	if tlsConfig != nil {
		conn, err = tls.DialWithDialer(d, "tcp", addr, tlsConfig)
	} else {
		conn, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	if password != "" {
		if _, err := roundTrip(conn, r, "AUTH", password); err != nil {
			return nil, fmt.Errorf("AUTH: %w", err)
		}
	}
	return roundTrip(conn, r, args...)
}

func roundTrip(w io.Writer, r *bufio.Reader, args ...string) (any, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return nil, err
	}
	return readReply(r)
}

// readReply reads one RESP2 reply.
func readReply(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("empty reply")
	}
	kind, rest := line[0], line[1:]
	switch kind {
	case '+':
		return rest, nil
	case '-':
		return nil, replyError(rest)
	case ':':
		return strconv.ParseInt(rest, 10, 64)
	case '$', '*':
		n, err := strconv.Atoi(rest)
		if err != nil {
			return nil, fmt.Errorf("reply %q", line)
		}
		if n < 0 {
			return nil, nil
		}
		if kind == '$' {
			body := make([]byte, n+2)
			if _, err := io.ReadFull(r, body); err != nil {
				return nil, err
			}
			return string(body[:n]), nil
		}
		items := make([]any, n)
		for i := range items {
			items[i], err = readReply(r)
			if re, ok := err.(replyError); ok {
				items[i] = re // an error inside an array (EXEC) is a value
			} else if err != nil {
				return nil, err
			}
		}
		return items, nil
	}
	return nil, fmt.Errorf("reply %q", line)
}

// replyError is an error reply of the server.
type replyError string

func (e replyError) Error() string { return string(e) }
