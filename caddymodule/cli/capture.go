package cli

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// capture is a parsed raw HTTP request.
type capture struct {
	req      *http.Request
	body     []byte
	scheme   string // of an absolute request target, else ""
	warnings []string
}

// captureOfURL is a GET of an absolute URL, as a raw request.
func captureOfURL(raw string) ([]byte, error) {
	raw = strings.TrimSpace(raw)
	i := strings.Index(raw, "://")
	if i < 0 || (raw[:i] != "http" && raw[:i] != "https") {
		return nil, usagef("--url %q: want an absolute http:// or https:// URL", raw)
	}
	raw, _, _ = strings.Cut(raw, "#")
	// An absolute request target carries the scheme and host.
	host := raw[i+3:]
	if j := strings.IndexAny(host, "/?"); j >= 0 {
		host = host[:j]
	}
	return []byte("GET " + raw + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n"), nil
}

// parseCapture reads a raw HTTP/1.x request. It is lenient with hand
// edits: LF line ends, leading blank lines, a Content-Length that no longer
// fits the body.
func parseCapture(data []byte) (*capture, error) {
	data = bytes.TrimLeft(data, "\r\n\t ")
	if len(data) == 0 {
		return nil, usagef("the capture is empty")
	}
	br := bufio.NewReader(bytes.NewReader(data))
	r, err := http.ReadRequest(br)
	if err != nil {
		return nil, usagef("the capture is not a raw HTTP request (request line, headers, blank line, body): %v", err)
	}
	c := &capture{req: r}
	if len(r.TransferEncoding) > 0 {
		c.body, err = io.ReadAll(r.Body)
		if err != nil {
			return nil, usagef("the capture's chunked body is malformed: %v", err)
		}
	} else {
		rest, _ := io.ReadAll(br)
		c.readBody(rest)
	}
	if len(c.body) == 0 {
		c.body = nil
	}
	r.Body = io.NopCloser(bytes.NewReader(c.body))
	r.ContentLength = int64(len(c.body))
	r.TransferEncoding = nil
	if r.URL.IsAbs() {
		c.originForm()
	}
	if r.Host == "" {
		c.warnings = append(c.warnings, "the capture has no Host header: give --host for signed URLs and host matchers")
	}
	return c, nil
}

// readBody takes the body from what follows the headers, by the
// Content-Length unless a hand edit changed the body's length.
func (c *capture) readBody(rest []byte) {
	cl := c.req.ContentLength
	hasCL := c.req.Header.Get("Content-Length") != "" || cl > 0
	switch {
	case !hasCL:
		if len(bytes.TrimSpace(rest)) > 0 {
			c.body = rest
			c.warnings = append(c.warnings, fmt.Sprintf("no Content-Length: the body is all %d bytes after the headers", len(rest)))
		}
	case int64(len(rest)) == cl:
		c.body = rest
	case int64(len(rest)) > cl:
		c.body = rest[:cl]
		if extra := rest[cl:]; len(bytes.TrimSpace(extra)) > 0 {
			// Not just the newline an editor adds: the body was
			// edited. Take all of it, less one final line end.
			c.body = bytes.TrimSuffix(bytes.TrimSuffix(rest, []byte("\n")), []byte("\r"))
			c.warnings = append(c.warnings, fmt.Sprintf("the capture's Content-Length is %d but %d bytes follow the headers: verifying those %d (was the body edited?)", cl, len(rest), len(c.body)))
		}
	default:
		c.body = rest
		c.warnings = append(c.warnings, fmt.Sprintf("the capture's Content-Length is %d but only %d bytes follow the headers: verifying those (was the body edited?)", cl, len(rest)))
	}
}

// originForm turns an absolute-form target into the path and query as
// written, keeping its scheme and host.
func (c *capture) originForm() {
	r := c.req
	c.scheme = strings.ToLower(r.URL.Scheme)
	if r.Host == "" {
		r.Host = r.URL.Host
	}
	target := r.RequestURI[len(r.URL.Scheme)+len("://"):]
	if j := strings.IndexAny(target, "/?"); j >= 0 {
		target = target[j:]
	} else {
		target = "/"
	}
	if target[0] == '?' {
		target = "/" + target
	}
	r.RequestURI = target
	r.URL.Scheme, r.URL.Host = "", ""
}

// parseAt reads RFC 3339, or Unix seconds, or milliseconds above 10^12.
func parseAt(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		if n > 1e12 {
			return time.UnixMilli(n), nil
		}
		return time.Unix(n, 0), nil
	}
	return parseTime(s)
}
