package cli

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// curl prints the delivery as a curl command line.
func (d *delivery) curl() string {
	var b strings.Builder
	b.WriteString("curl -sS -i")
	if strings.ContainsAny(d.url, "[]{}") {
		b.WriteString(" -g")
	}
	if !(d.method == http.MethodGet && len(d.body) == 0) && !(d.method == http.MethodPost && len(d.body) > 0) {
		b.WriteString(" -X " + shellQuote(d.method))
	}
	for _, h := range d.header {
		if d.basic && strings.EqualFold(h[0], "Authorization") {
			b.WriteString(" \\\n  -u " + shellQuote(d.basicUser+":"+d.basicPass))
			continue
		}
		b.WriteString(" \\\n  -H " + shellQuote(h[0]+": "+h[1]))
	}
	if len(d.body) > 0 {
		b.WriteString(" \\\n  --data-binary " + shellQuote(string(d.body)))
	}
	if d.host != "" {
		b.WriteString(" \\\n  -H " + shellQuote("Host: "+d.host))
	}
	b.WriteString(" \\\n  " + shellQuote(d.url))
	return b.String()
}

// rawHTTP writes the delivery as an HTTP/1.1 request.
func (d *delivery) rawHTTP() ([]byte, error) {
	u, err := url.Parse(d.url)
	if err != nil {
		return nil, err
	}
	// The path and query exactly as signed, not as net/url re-escapes them.
	target := d.url[len(u.Scheme)+len("://"):]
	if i := strings.IndexAny(target, "/?"); i >= 0 {
		target = target[i:]
	} else {
		target = ""
	}
	if target == "" || target[0] == '?' {
		target = "/" + target
	}
	host := u.Host
	if d.host != "" {
		host = d.host
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", d.method, target)
	fmt.Fprintf(&b, "Host: %s\r\n", host)
	for _, h := range d.header {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	if len(d.body) > 0 || d.method == http.MethodPost || d.method == http.MethodPut || d.method == http.MethodPatch {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(d.body))
	}
	b.WriteString("\r\n")
	b.Write(d.body)
	return b.Bytes(), nil
}

// request builds the delivery as an *http.Request to send.
func (d *delivery) request() (*http.Request, error) {
	r, err := http.NewRequest(d.method, d.url, bytes.NewReader(d.body))
	if err != nil {
		return nil, err
	}
	if len(d.body) == 0 {
		r.Body = http.NoBody
	}
	for _, h := range d.header {
		r.Header[http.CanonicalHeaderKey(h[0])] = []string{h[1]}
	}
	if d.host != "" {
		r.Host = d.host
	}
	r.Header.Set("User-Agent", "caddy-callback/1")
	return r, nil
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@,+%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// isTerminal tells whether stdin or stdout (f) is a terminal.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	if !ok {
		return false
	}
	st, err := file.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
