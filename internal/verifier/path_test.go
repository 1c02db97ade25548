package verifier

import (
	"net/url"
	"strings"
	"testing"
)

func TestCanonicalPath(t *testing.T) {
	cases := []struct {
		target, want string // want "": refused
		reason       string // a fragment of the refusal
	}{
		{"/v1/chat/completions", "/v1/chat/completions", ""},
		{"/v1/chat/completions/", "/v1/chat/completions", ""},
		{"/v1/chat/completions?stream=true&x=%2e%2e;/..", "/v1/chat/completions", ""},
		{"/v1/prompts/hello%20world", "/v1/prompts/hello world", ""},
		{"/v1/prompts/a%2Db", "/v1/prompts/a-b", ""},
		{"/v1/prompts/a:b@c~d_e.f!$&'()*+,=", "/v1/prompts/a:b@c~d_e.f!$&'()*+,=", ""},
		{"/v1/prompts/..x", "/v1/prompts/..x", ""},
		{"/", "/", ""},
		{"", "", "no original path"},
		{"v1/chat/completions", "", "not an absolute path"},
		{"?", "", "not an absolute path"},
		{"?/v1/chat/completions", "", "not an absolute path"},
		{"http://h/v1/chat/completions", "", "not an absolute path"},
		{"/v1/images/..;/prompts/x", "", "';'"},
		{"/v1/images;x=1/generations", "", "';'"},
		{"/v1/images/%252e%252e/prompts/x", "", "double encoding"},
		{"/v1/images/%2e%2e/prompts/x", "", "percent-encoded"},
		{"/v1/images/%2E./prompts", "", "percent-encoded"},
		{"/v1/images/x%2fy", "", "percent-encoded"},
		{"/v1/images/x%5Cy", "", "percent-encoded"},
		{"/v1/images/x%3b", "", "percent-encoded"},
		{"/v1/images/x%3F", "", "percent-encoded"},
		{"/v1/images/x%00", "", "control"},
		{"/v1/images/x%c3%a9", "", "non-ASCII"},
		{"/v1/images/x%5", "", "two hex digits"},
		{"/v1/images/x%zz", "", "two hex digits"},
		{"/v1/images/%", "", "two hex digits"},
		{"/v1/images/../prompts/x", "", "dot segment"},
		{"/v1/images/./x", "", "dot segment"},
		{"/v1/images/..", "", "dot segment"},
		{"/v1/images/.", "", "dot segment"},
		{"/v1//images", "", "empty segment"},
		{"//v1/images", "", "empty segment"},
		{"//", "", "empty segment"},
		{"/v1/images//", "", "empty segment"},
		{"/v1/images\\..\\prompts", "", "backslash"},
		{"/v1/images/x\x00", "", "control"},
		{"/v1/images/x\ty", "", "control"},
		{"/v1/images/x\x7f", "", "control"},
		{"/v1/images/cаt", "", "non-ASCII"},
		{"/v1/images/x#frag", "", "not allowed"},
		{"/v1/images/x y", "", "not allowed"},
		{"/v1/images/x\"", "", "not allowed"},
		{"/" + strings.Repeat("a", maxPathBytes), "", "longer than"},
	}
	for _, c := range cases {
		got, err := CanonicalPath(c.target)
		if c.want != "" {
			if err != nil || got != c.want {
				t.Errorf("CanonicalPath(%q) = %q, %v; want %q", c.target, got, err, c.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("CanonicalPath(%q) = %q, %v; want a refusal with %q", c.target, got, err, c.reason)
		}
	}
}

// TestCanonicalPathEveryByte puts each byte value inside a segment, in a
// path without and with an escape before it (the decoded copy): the letters,
// digits and marks of RFC 3986 are kept as they are, "/" separates, "?"
// starts the query, anything else is refused.
func TestCanonicalPathEveryByte(t *testing.T) {
	for c := range 256 {
		b := string(rune(c))
		if c >= 0x80 {
			b = string([]byte{byte(c)})
		}
		for _, pre := range []struct{ raw, decoded string }{{"/v1/a", "/v1/a"}, {"/v1/%41", "/v1/A"}} {
			got, err := CanonicalPath(pre.raw + b + "z")
			var want string
			switch {
			case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', strings.ContainsRune("-._~!$&'()*+,=:@/", rune(c)):
				want = pre.decoded + b + "z"
			case c == '?':
				want = pre.decoded
			}
			if got != want || (err == nil) != (want != "") {
				t.Errorf("byte %#x after %q: %q, %v; want %q", c, pre.raw, got, err, want)
			}
		}
	}
}

func TestCanonicalMethod(t *testing.T) {
	for m, ok := range map[string]bool{"GET": true, "DELETE": true, "M-SEARCH": true, "delete": false, "": false, "GET ": false, "Get": false, strings.Repeat("A", 33): false} {
		if err := CanonicalMethod(m); (err == nil) != ok {
			t.Errorf("CanonicalMethod(%q) = %v", m, err)
		}
	}
}

// FuzzCanonicalPath checks the properties the verifier relies on for any
// target: no panic; an accepted path is absolute, has no empty, . or ..
// segment, no backslash, ; or %, no trailing slash (but "/"), only printable
// ASCII; and decoding it again (as a double-decoding upstream would) or
// resolving it (as a normalising one would) changes nothing.
func FuzzCanonicalPath(f *testing.F) {
	for _, s := range []string{"/v1/chat/completions?x=1", "/v1/images/..;/prompts/x", "/v1/images/%252e%252e/prompts/x", "/v1/a%20b/", "//", "/", "/%41%2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		p, err := CanonicalPath(target)
		if err != nil {
			if p != "" {
				t.Fatalf("a refusal with a path %q", p)
			}
			return
		}
		if p == "" || p[0] != '/' || strings.ContainsAny(p, "\\;%?#") || (len(p) > 1 && strings.HasSuffix(p, "/")) {
			t.Fatalf("%q -> %q", target, p)
		}
		for _, c := range []byte(p) {
			if c < 0x20 || c >= 0x7f {
				t.Fatalf("%q -> %q has byte %#x", target, p, c)
			}
		}
		for _, seg := range strings.Split(p[1:], "/") {
			if (seg == "" && p != "/") || seg == "." || seg == ".." {
				t.Fatalf("%q -> %q has segment %q", target, p, seg)
			}
		}
		if again, err := url.PathUnescape(p); err != nil || again != p {
			t.Fatalf("%q -> %q decodes again to %q, %v", target, p, again, err)
		}
	})
}
