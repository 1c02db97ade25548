package verifier

import (
	"errors"
	"strings"
)

// maxPathBytes bounds the path the verifier decides on.
const maxPathBytes = 4096

// CanonicalPath is the one path the verifier decides on for a request target
// (a path with an optional query string, as nginx's $request_uri, Envoy's
// :path or the Envoy-style endpoint's own target). Anything an upstream could
// read as another path is refused rather than guessed:
//
//   - the target must start with "/"; the query string (from the first "?")
//     is dropped unread;
//   - each byte of the path is an RFC 3986 path character (letters, digits,
//     the marks "-._~!$&'()*+,=:@" and "/") or a percent escape: no ";"
//     (path parameters), backslash, "#", space, control or non-ASCII byte;
//   - an escape is "%" and two hex digits that decode to a printable ASCII
//     character other than . / \ % ; ? # (so %2e, %2f, %5c, %3b and double
//     encoding such as %252e are refused);
//   - no empty segment ("//") and no "." or ".." segment; one trailing "/" is
//     allowed and dropped.
//
// The result is the path with its escapes decoded once: since no escape may
// produce "%", decoding it again changes nothing, so the verifier and every
// upstream see the same segments.
func CanonicalPath(target string) (string, error) {
	if target == "" {
		return "", errors.New("the gateway sent no original path")
	}
	if i := strings.IndexByte(target, '?'); i >= 0 {
		target = target[:i]
	}
	if len(target) > maxPathBytes {
		return "", errors.New("ambiguous path: longer than 4096 bytes")
	}
	if target == "" || target[0] != '/' {
		return "", errors.New("ambiguous path: not an absolute path")
	}
	if len(target) > 1 && target[len(target)-1] == '/' {
		target = target[:len(target)-1]
		if target[len(target)-1] == '/' {
			return "", errors.New("ambiguous path: an empty segment (//)")
		}
	}
	var decoded []byte // nil until the first escape
	segStart := 1
	for i := 1; ; {
		// The run of plain path characters from i, as it is.
		j := i
		for j < len(target) && pathChars[target[j]] {
			j++
		}
		if decoded != nil {
			decoded = append(decoded, target[i:j]...)
		}
		i = j
		if i == len(target) || target[i] == '/' {
			if err := checkSegment(target[segStart:i], len(target) == 1); err != nil {
				return "", err
			}
			if i == len(target) {
				break
			}
			if decoded != nil {
				decoded = append(decoded, '/')
			}
			i++
			segStart = i
			continue
		}
		switch c := target[i]; {
		case c == '%':
			d, err := unescape(target, i)
			if err != nil {
				return "", err
			}
			if decoded == nil {
				decoded = append(make([]byte, 0, len(target)), target[:i]...)
			}
			decoded = append(decoded, d)
			i += 3
		case c == ';':
			return "", errors.New("ambiguous path: a ';' path parameter")
		case c == '\\':
			return "", errors.New("ambiguous path: a backslash")
		case c < 0x20 || c == 0x7f:
			return "", errors.New("ambiguous path: a control character")
		case c >= 0x80:
			return "", errors.New("ambiguous path: a non-ASCII byte")
		default:
			return "", errors.New("ambiguous path: a character that is not allowed in a path (" + string(c) + ")")
		}
	}
	if decoded == nil {
		return target, nil
	}
	return string(decoded), nil
}

// checkSegment refuses an empty, . or .. segment of the raw path (escaped
// dots are refused byte by byte). root is the path "/".
func checkSegment(seg string, root bool) error {
	switch {
	case seg == "" && !root:
		return errors.New("ambiguous path: an empty segment (//)")
	case seg == "." || seg == "..":
		return errors.New("ambiguous path: a dot segment (. or ..)")
	}
	return nil
}

// unescape decodes the escape at p[i] ('%'), refusing a malformed one and one
// that decodes to a separator, an escape or a byte that is not printable ASCII.
func unescape(p string, i int) (byte, error) {
	if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
		return 0, errors.New("ambiguous path: a '%' that is not followed by two hex digits")
	}
	d := unhex(p[i+1])<<4 | unhex(p[i+2])
	switch {
	case d == '.' || d == '/' || d == '\\' || d == '%' || d == ';' || d == '?' || d == '#':
		return 0, errors.New("ambiguous path: a percent-encoded . / \\ % ; ? or # (encoded separators and double encoding are refused)")
	case d < 0x20 || d >= 0x7f:
		return 0, errors.New("ambiguous path: a percent-encoded control or non-ASCII byte")
	}
	return d, nil
}

// pathChar reports an RFC 3986 pchar other than ';' and '%' (handled apart).
func pathChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~!$&'()*+,=:@", c) >= 0
}

// pathChars holds pathChar for every byte: CanonicalPath skips runs of them
// in every path it decides, once per gateway request.
var pathChars = func() (t [256]bool) {
	for c := range 256 {
		t[c] = pathChar(byte(c))
	}
	return t
}()

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}

// CanonicalMethod refuses a method that is not an upper-case token, so that
// an upstream that folds case cannot read "delete" as DELETE.
func CanonicalMethod(m string) error {
	if m == "" {
		return errors.New("the gateway sent no original method")
	}
	if len(m) > 32 {
		return errors.New("ambiguous method: longer than 32 bytes")
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; (c < 'A' || c > 'Z') && c != '-' && c != '_' {
			return errors.New("ambiguous method: only upper-case letters, - and _")
		}
	}
	return nil
}
