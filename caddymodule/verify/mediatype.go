package verify

import "strings"

// MediaType is the media type of a Content-Type header value as PHP reads
// it: the text up to the first ';', ',' or white space, in lower case. PHP
// fills $_POST from a body whose media type so read is
// application/x-www-form-urlencoded, so the guard must call a body a form
// exactly when PHP does ("application/x-www-form-urlencoded, text/plain" is
// one), or a backend could read a field the guard never looked at.
func MediaType(contentType string) string {
	if i := strings.IndexAny(contentType, ";, \t\r\n"); i >= 0 {
		contentType = contentType[:i]
	}
	return strings.ToLower(contentType)
}

// IsFormMediaType reports whether a media type (from MediaType) is
// application/x-www-form-urlencoded.
func IsFormMediaType(mt string) bool { return mt == "application/x-www-form-urlencoded" }

// IsJSONMediaType reports whether a media type (from MediaType) is JSON:
// application/json or a structured syntax suffix +json
// (application/merge-patch+json).
func IsJSONMediaType(mt string) bool {
	return mt == "application/json" || strings.HasSuffix(mt, "+json") && strings.IndexByte(mt, '/') > 0
}
