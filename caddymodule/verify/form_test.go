package verify

import "testing"

func TestFormUnescape(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"token", "token"},
		{"a+b", "a b"},
		{"%74oken", "token"},
		{"%7e%7E", "~~"},
		{"100%", "100%"},
		{"%zz", "%zz"},
		{"%4", "%4"},
		{"%%41", "%A"},
		{"%2B+", "+ "},
		{"%ff", "\xff"}, // bytes, not yet UTF-8
	} {
		if got := FormUnescape(tt.in); got != tt.want {
			t.Errorf("FormUnescape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
