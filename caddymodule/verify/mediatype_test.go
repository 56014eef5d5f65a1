package verify

import "testing"

// The media type as PHP reads it: cut at the first ';', ',' or white space.
func TestMediaType(t *testing.T) {
	cases := []struct {
		ct, want   string
		form, json bool
	}{
		{"application/x-www-form-urlencoded", "application/x-www-form-urlencoded", true, false},
		{"Application/X-WWW-Form-Urlencoded; charset=UTF-8", "application/x-www-form-urlencoded", true, false},
		{"application/x-www-form-urlencoded, text/plain", "application/x-www-form-urlencoded", true, false},
		{"application/x-www-form-urlencoded text/plain", "application/x-www-form-urlencoded", true, false},
		{"application/x-www-form-urlencoded\ttext/plain", "application/x-www-form-urlencoded", true, false},
		{"application/x-www-form-urlencodedx", "application/x-www-form-urlencodedx", false, false},
		{" application/x-www-form-urlencoded", "", false, false},
		{"text/plain, application/x-www-form-urlencoded", "text/plain", false, false},
		{"multipart/form-data; boundary=x", "multipart/form-data", false, false},
		{"application/json", "application/json", false, true},
		{"APPLICATION/JSON;charset=utf-8", "application/json", false, true},
		{"application/merge-patch+json", "application/merge-patch+json", false, true},
		{"+json", "+json", false, false},
		{"application/jsonx", "application/jsonx", false, false},
		{"", "", false, false},
	}
	for _, c := range cases {
		mt := MediaType(c.ct)
		if mt != c.want || IsFormMediaType(mt) != c.form || IsJSONMediaType(mt) != c.json {
			t.Errorf("MediaType(%q) = %q (form %v, json %v); want %q (%v, %v)", c.ct, mt, IsFormMediaType(mt), IsJSONMediaType(mt), c.want, c.form, c.json)
		}
	}
}
