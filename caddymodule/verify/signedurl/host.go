package signedurl

import (
	"net/netip"
	"strconv"
)

// This file serializes the scheme, host and port the way the WHATWG URL
// parser (node's URL) does for the special schemes. A server sees the host
// as the client wrote it in the Host header (or X-Forwarded-Host), which can
// differ from what Glopal signed only in ways the URL parser normalizes away:
// letter case, an explicit default port, alternative IPv4/IPv6 spellings.
//
// Internationalized names are the one thing not implemented: HTTP clients
// send them as punycode (already ASCII), and implementing UTS #46 would need
// tables this package does not carry. A host with non-ASCII bytes is
// reported as not canonicalizable, which the verifier treats as a failure.

// appendScheme appends the lower-cased scheme and returns its default port.
// ok is false for anything but http, https, ws, wss and ftp: the path and
// host rules implemented here are those of the special schemes.
func appendScheme(dst []byte, scheme string) (_ []byte, defPort int, ok bool) {
	start := len(dst)
	dst = appendLowerSafe(dst, scheme)
	switch string(dst[start:]) {
	case "http", "ws":
		return dst, 80, true
	case "https", "wss":
		return dst, 443, true
	case "ftp":
		return dst, 21, true
	}
	return dst, -1, false
}

// appendHost appends the serialized host and, unless it is the scheme's
// default, the port. hostport is host[:port] as in a Host header. ok is
// false when node's URL parser would reject it; something is still
// appended (lower-cased, unsafe bytes escaped) so the output stays printable.
func appendHost(dst []byte, hostport string, defPort int) (_ []byte, ok bool) {
	host, port, hasPort := hostport, "", false
	inBrackets := false
split:
	for i := 0; i < len(hostport); i++ {
		switch hostport[i] {
		case '[':
			inBrackets = true
		case ']':
			inBrackets = false
		case ':':
			if !inBrackets {
				host, port, hasPort = hostport[:i], hostport[i+1:], true
				break split
			}
		}
	}
	start := len(dst)
	dst, ok = appendHostname(dst, host)
	if !ok {
		dst = appendLowerSafe(dst[:start], host)
	}
	if !hasPort {
		return dst, ok
	}
	p, pok := parsePort(port)
	switch {
	case !pok:
		dst = append(dst, ':')
		return appendLowerSafe(dst, port), false
	case p >= 0 && p != defPort:
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, int64(p), 10)
	}
	return dst, ok
}

// parsePort returns -1 for an empty port (node drops "host:"), the number
// otherwise, and false for anything but ASCII digits or a value over 65535.
// Leading zeros are allowed and dropped, as node does.
func parsePort(s string) (int, bool) {
	if s == "" {
		return -1, true
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
		if n > 65535 {
			return 0, false
		}
	}
	return n, true
}

// appendHostname is the WHATWG host parser for special schemes, restricted
// to ASCII domains: bracketed IPv6, then percent-decoding, lower-casing,
// the forbidden domain code points, and IPv4 in any of its numeric forms.
func appendHostname(dst []byte, host string) ([]byte, bool) {
	if host == "" {
		return dst, false
	}
	if host[0] == '[' {
		if len(host) < 2 || host[len(host)-1] != ']' {
			return dst, false
		}
		return appendIPv6(dst, host[1:len(host)-1])
	}
	start := len(dst)
	for i := 0; i < len(host); i++ {
		c := host[i]
		if c == '%' && i+2 < len(host) && isHex(host[i+1]) && isHex(host[i+2]) {
			c = unhex(host[i+1])<<4 | unhex(host[i+2])
			i += 2
		}
		if c >= 0x80 || forbiddenDomain[c] {
			return dst[:start], false
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	if !endsInNumber(dst[start:]) {
		return dst, true
	}
	ip, ok := parseIPv4(dst[start:])
	if !ok {
		return dst[:start], false
	}
	dst = dst[:start]
	for i := 3; i >= 0; i-- {
		dst = strconv.AppendUint(dst, uint64(ip>>(8*i)&0xFF), 10)
		if i > 0 {
			dst = append(dst, '.')
		}
	}
	return dst, true
}

// lastLabel returns the last dot-separated label, ignoring one trailing dot
// (which the IPv4 parser also ignores).
func lastLabel(d []byte) []byte {
	if len(d) > 1 && d[len(d)-1] == '.' {
		d = d[:len(d)-1]
	}
	i := len(d)
	for i > 0 && d[i-1] != '.' {
		i--
	}
	return d[i:]
}

// endsInNumber is the WHATWG "ends in a number" check: a host whose last
// label is a number must be a valid IPv4 address or the URL is rejected.
func endsInNumber(d []byte) bool {
	last := lastLabel(d)
	if len(last) == 0 {
		return false
	}
	digits := true
	for _, c := range last {
		if c < '0' || c > '9' {
			digits = false
			break
		}
	}
	if digits {
		return true
	}
	_, ok := parseIPv4Number(last)
	return ok
}

// parseIPv4 is the WHATWG IPv4 parser: 1 to 4 parts, each decimal, octal
// (leading 0) or hex (0x), the last one filling the remaining bytes.
func parseIPv4(d []byte) (uint32, bool) {
	if len(d) > 1 && d[len(d)-1] == '.' {
		d = d[:len(d)-1]
	}
	var nums [4]uint64
	n := 0
	for {
		i := 0
		for i < len(d) && d[i] != '.' {
			i++
		}
		if n == 4 {
			return 0, false
		}
		v, ok := parseIPv4Number(d[:i])
		if !ok {
			return 0, false
		}
		nums[n] = v
		n++
		if i == len(d) {
			break
		}
		d = d[i+1:]
	}
	for i := 0; i < n-1; i++ {
		if nums[i] > 255 {
			return 0, false
		}
	}
	if nums[n-1] >= 1<<(8*(5-n)) {
		return 0, false
	}
	ip := nums[n-1]
	for i := 0; i < n-1; i++ {
		ip += nums[i] << (8 * (3 - i))
	}
	return uint32(ip), true
}

// parseIPv4Number parses one part of an IPv4 host. Values saturate above
// 2^40 so that overflow cannot turn an invalid address into a valid one.
func parseIPv4Number(s []byte) (uint64, bool) {
	if len(s) == 0 {
		return 0, false
	}
	radix := uint64(10)
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		s, radix = s[2:], 16
	} else if len(s) >= 2 && s[0] == '0' {
		s, radix = s[1:], 8
	}
	var v uint64
	for _, c := range s {
		var d uint64
		switch {
		case '0' <= c && c <= '9':
			d = uint64(c - '0')
		case radix == 16 && 'a' <= c && c <= 'f':
			d = uint64(c-'a') + 10
		case radix == 16 && 'A' <= c && c <= 'F':
			d = uint64(c-'A') + 10
		default:
			return 0, false
		}
		if d >= radix {
			return 0, false
		}
		if v < 1<<40 {
			v = v*radix + d
		}
	}
	return v, true
}

// appendIPv6 parses an IPv6 literal (without brackets) and appends it in
// the WHATWG serialization: lower-case hex pieces without leading zeros,
// the first longest run of two or more zero pieces compressed to "::", and
// no dotted IPv4 tail (::ffff:1.2.3.4 becomes ::ffff:102:304).
func appendIPv6(dst []byte, s string) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '%' { // zone identifiers are not part of URLs
			return dst, false
		}
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() {
		return dst, false
	}
	b := a.As16()
	var p [8]uint16
	for i := range p {
		p[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	compress, best := -1, 1
	for i := 0; i < 8; {
		if p[i] != 0 {
			i++
			continue
		}
		j := i
		for j < 8 && p[j] == 0 {
			j++
		}
		if j-i > best {
			compress, best = i, j-i
		}
		i = j
	}
	dst = append(dst, '[')
	for i := 0; i < 8; i++ {
		if i == compress {
			if i == 0 {
				dst = append(dst, "::"...)
			} else {
				dst = append(dst, ':')
			}
			i += best - 1
			continue
		}
		dst = strconv.AppendUint(dst, uint64(p[i]), 16)
		if i != 7 {
			dst = append(dst, ':')
		}
	}
	return append(dst, ']'), true
}

// appendLowerSafe appends s lower-cased with every byte outside a
// conservative printable set percent-encoded. It is used only for parts
// that are already known to be invalid, to keep the output printable.
func appendLowerSafe(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z':
			dst = append(dst, c+'a'-'A')
		case c <= ' ' || c >= 0x7F || c == '/' || c == '?' || c == '#' || c == '%' || c == '\\':
			dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// forbiddenDomain marks the WHATWG forbidden domain code points (ASCII).
var forbiddenDomain = func() (t [128]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	for _, c := range " #%/:<>?@[\\]^|\x7F" {
		t[c] = true
	}
	return t
}()
