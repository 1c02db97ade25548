package verifier

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/tenantward/tenantward/internal/apikey"
)

// The JSON of POST /v1/verify, decoded and encoded here rather than by
// encoding/json, whose reflection and allocations (about 30 a call) were
// most of the endpoint's cost. decodeVerifyRequest accepts and refuses
// exactly what json.Decoder with DisallowUnknownFields did reading the body
// through http.MaxBytesReader, and decodes the same values
// (FuzzVerifyRequestJSON compares the two); appendVerifyResponse writes the
// bytes json.Encoder writes (TestVerifyResponseJSON).

// verifyBuffers are the body and answer buffers of one call, pooled.
type verifyBuffers struct {
	body [MaxBodyBytes + 1]byte
	n    int
	out  []byte
}

var verifyPool = sync.Pool{New: func() any { return &verifyBuffers{out: make([]byte, 0, 1024)} }}

// errBodyTooLarge: the body is over MaxBodyBytes, and its JSON value does
// not end within them.
var errBodyTooLarge = fmt.Errorf("the body is over %d bytes", MaxBodyBytes)

// read reads the body r into b.body until its end or MaxBodyBytes+1 bytes,
// and returns the first MaxBodyBytes of it and why reading stopped: nil at
// the end of the body, errBodyTooLarge when there is more, else the read error.
func (b *verifyBuffers) read(r io.Reader) ([]byte, error) {
	n, err := io.ReadFull(r, b.body[:])
	b.n = n
	switch {
	case err == nil:
		return b.body[:MaxBodyBytes], errBodyTooLarge
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return b.body[:n], nil
	default:
		return b.body[:n], err
	}
}

// release wipes the body (it holds a key) and returns b to the pool.
func (b *verifyBuffers) release() {
	clear(b.body[:b.n])
	b.n = 0
	verifyPool.Put(b)
}

// bodyProblem says what is wrong with the body of a /v1/verify call without
// quoting it.
type bodyProblem struct {
	kind problemKind
	// offset is the offending byte of a syntax error, counted from 1 as
	// encoding/json counts it.
	offset int
	// field is the field of a problemType ("" when it is the body itself)
	// or the name of a problemUnknownField.
	field string
	// found is the JSON type of a problemType: string, number, bool,
	// object or array.
	found string
	err   error
}

type problemKind uint8

const (
	problemSyntax problemKind = iota
	problemEmpty
	problemTruncated
	problemUnknownField
	problemType
	problemUnreadable
)

func (p *bodyProblem) Error() string {
	switch p.kind {
	case problemSyntax:
		return "invalid JSON at byte " + strconv.Itoa(p.offset)
	case problemEmpty:
		return "an empty body"
	case problemTruncated:
		return "a truncated body"
	case problemUnknownField:
		if !quotableField(p.field) {
			return "an unknown field"
		}
		return fmt.Sprintf("unknown field %q", p.field)
	case problemType:
		if p.field == "" {
			return "the body is " + article(p.found)
		}
		return fmt.Sprintf("field %q must be a string, not %s", p.field, article(p.found))
	default:
		return "the body could not be read: " + p.err.Error()
	}
}

func article(jsonType string) string {
	if jsonType == "object" || jsonType == "array" {
		return "an " + jsonType
	}
	return "a " + jsonType
}

// quotableField reports whether an error may repeat the name of an unknown
// field: a name that could hold a key (as long as one, or with a key's
// prefix) is not repeated.
func quotableField(name string) bool {
	return len(name) < apikey.Len && !strings.Contains(name, apikey.PrefixAdmin) && !strings.Contains(name, apikey.PrefixWorkspace)
}

// decodeVerifyRequest decodes into req the body of a /v1/verify call: body
// is what was read of it and end why reading stopped (as verifyBuffers.read
// returns them). It returns errBodyTooLarge, a *bodyProblem or nil. The
// strings of req that hold no escape are views of body: they are valid
// while body is, and must not be kept.
//
// As json.Decoder did, it reads the first JSON value and ignores what
// follows; a value that does not end within MaxBodyBytes is too large; a
// syntax error comes before the first unknown field or value of the wrong
// type; field names match case-insensitively; null leaves a field as it is;
// a later field of the same name wins; escapes are decoded, lone surrogates
// and bytes that are not UTF-8 become U+FFFD.
func decodeVerifyRequest(body []byte, end error, req *VerifyRequest) error {
	p := requestParser{b: body}
	p.space()
	if p.i == len(p.b) {
		return p.ranOut(end, false)
	}
	var err error
	if p.b[p.i] == '{' {
		err = p.request(req)
	} else {
		var found string
		if found, err = p.value(); err == nil {
			// A value other than an object or array ends at the byte after it.
			if found != "object" && found != "array" && p.i == len(p.b) && end != nil {
				return p.ranOut(end, true)
			}
			if found != "null" && p.problem == nil {
				p.problem = &bodyProblem{kind: problemType, found: found}
			}
		}
	}
	switch {
	case errors.Is(err, errRanOut):
		return p.ranOut(end, true)
	case err != nil:
		return err
	case p.problem != nil:
		return p.problem
	}
	return nil
}

// errRanOut: the parser reached the end of what was read inside a value.
var errRanOut = errors.New("ran out of input")

// requestParser parses a body at b[i:].
type requestParser struct {
	b []byte
	i int
	// problem is the first unknown field or value of the wrong type; a
	// syntax error found later comes first.
	problem *bodyProblem
}

// ranOut is the error of a body that ended before its value did: started
// says whether the value had begun.
func (p *requestParser) ranOut(end error, started bool) error {
	switch {
	case errors.Is(end, errBodyTooLarge):
		return errBodyTooLarge
	case end != nil:
		return &bodyProblem{kind: problemUnreadable, err: end}
	case started:
		return &bodyProblem{kind: problemTruncated}
	default:
		return &bodyProblem{kind: problemEmpty}
	}
}

func (p *requestParser) syntax() error { return &bodyProblem{kind: problemSyntax, offset: p.i + 1} }

func (p *requestParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// request parses the object at p.i into req.
func (p *requestParser) request(req *VerifyRequest) error {
	fields := [...]*string{&req.Key, &req.Feature, &req.Level, &req.Model}
	p.i++
	return p.members(func(raw []byte, plain bool) error {
		f := requestField(raw, plain)
		if f < 0 {
			if p.problem == nil {
				p.problem = &bodyProblem{kind: problemUnknownField, field: stringOf(raw, plain, true)}
			}
			_, err := p.value()
			return err
		}
		if p.i < len(p.b) && p.b[p.i] == '"' {
			raw, plain, err := p.str()
			if err == nil {
				*fields[f] = stringOf(raw, plain, false)
			}
			return err
		}
		found, err := p.value()
		if err == nil && found != "null" && p.problem == nil {
			p.problem = &bodyProblem{kind: problemType, field: requestFields[f], found: found}
		}
		return err
	})
}

// requestFields are the JSON names of VerifyRequest's fields.
var requestFields = [...]string{"key", "feature", "level", "model"}

// requestField returns the index in requestFields of the field a member
// name sets, -1 for none: the same name, else one equal under Unicode
// case folding, as encoding/json matches them.
func requestField(raw []byte, plain bool) int {
	if plain {
		for i, f := range requestFields {
			if string(raw) == f {
				return i
			}
		}
	}
	name := raw
	if !plain {
		name = unquote(raw)
	}
	for i, f := range requestFields {
		if bytes.EqualFold(name, []byte(f)) {
			return i
		}
	}
	return -1
}

// stringOf returns the string a JSON string's raw bytes (between the quotes)
// stand for: a view of raw when plain (no escapes, valid UTF-8) and not
// copy, else a new string.
func stringOf(raw []byte, plain, copied bool) string {
	switch {
	case !plain:
		return string(unquote(raw))
	case copied:
		return string(raw)
	case len(raw) == 0:
		return ""
	}
	return unsafe.String(&raw[0], len(raw)) //nolint:gosec // a view of the call's body buffer, used before the buffer is released
}

// members parses the members of an object after its '{', calling member
// with each name (as str returns it) once the ':' after it is read; member
// parses the value.
func (p *requestParser) members(member func(raw []byte, plain bool) error) error {
	p.space()
	if p.i == len(p.b) {
		return errRanOut
	}
	if p.b[p.i] == '}' {
		p.i++
		return nil
	}
	for {
		if p.i == len(p.b) {
			return errRanOut
		}
		if p.b[p.i] != '"' {
			return p.syntax()
		}
		raw, plain, err := p.str()
		if err != nil {
			return err
		}
		p.space()
		if p.i == len(p.b) {
			return errRanOut
		}
		if p.b[p.i] != ':' {
			return p.syntax()
		}
		p.i++
		p.space()
		if err := member(raw, plain); err != nil {
			return err
		}
		if done, err := p.next('}'); err != nil || done {
			return err
		}
	}
}

// next reads what follows a member or element: ',' (and the space after
// it) or close, which reports done.
func (p *requestParser) next(close byte) (done bool, err error) {
	p.space()
	if p.i == len(p.b) {
		return false, errRanOut
	}
	switch p.b[p.i] {
	case ',':
		p.i++
		p.space()
		return false, nil
	case close:
		p.i++
		return true, nil
	}
	return false, p.syntax()
}

// value parses any JSON value at p.i and returns its type as encoding/json
// names it (null for null).
func (p *requestParser) value() (string, error) {
	if p.i == len(p.b) {
		return "", errRanOut
	}
	switch c := p.b[p.i]; {
	case c == '{':
		p.i++
		return "object", p.members(func([]byte, bool) error { _, err := p.value(); return err })
	case c == '[':
		p.i++
		return "array", p.elements()
	case c == '"':
		_, _, err := p.str()
		return "string", err
	case c == 't':
		return "bool", p.literal("true")
	case c == 'f':
		return "bool", p.literal("false")
	case c == 'n':
		return "null", p.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		return "number", p.number()
	}
	return "", p.syntax()
}

// elements parses the elements of an array after its '['.
func (p *requestParser) elements() error {
	p.space()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return nil
	}
	for {
		if _, err := p.value(); err != nil {
			return err
		}
		if done, err := p.next(']'); err != nil || done {
			return err
		}
	}
}

func (p *requestParser) literal(lit string) error {
	for k := range len(lit) {
		if p.i == len(p.b) {
			return errRanOut
		}
		if p.b[p.i] != lit[k] {
			return p.syntax()
		}
		p.i++
	}
	return nil
}

// number parses -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (p *requestParser) number() error {
	if p.b[p.i] == '-' {
		p.i++
	}
	if err := p.digit(); err != nil {
		return err
	}
	if p.b[p.i-1] != '0' {
		p.digits()
	}
	if p.i < len(p.b) && p.b[p.i] == '.' {
		p.i++
		if err := p.digit(); err != nil {
			return err
		}
		p.digits()
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		if err := p.digit(); err != nil {
			return err
		}
		p.digits()
	}
	return nil
}

// digit reads the one digit a number needs at p.i.
func (p *requestParser) digit() error {
	if p.i == len(p.b) {
		return errRanOut
	}
	if c := p.b[p.i]; c < '0' || c > '9' {
		return p.syntax()
	}
	p.i++
	return nil
}

func (p *requestParser) digits() {
	for p.i < len(p.b) && '0' <= p.b[p.i] && p.b[p.i] <= '9' {
		p.i++
	}
}

// str parses the string at p.i and returns its bytes between the quotes,
// and whether they stand for themselves (plain: no escape, valid UTF-8).
func (p *requestParser) str() (raw []byte, plain bool, err error) {
	p.i++
	start := p.i
	escaped, ascii := false, true
	for p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c == '"':
			raw = p.b[start:p.i]
			p.i++
			return raw, !escaped && (ascii || utf8.Valid(raw)), nil
		case c == '\\':
			escaped = true
			if err := p.escape(); err != nil {
				return nil, false, err
			}
		case c < 0x20:
			return nil, false, p.syntax()
		default:
			ascii = ascii && c < utf8.RuneSelf
			p.i++
		}
	}
	return nil, false, errRanOut
}

// escape parses the escape at p.i ('\\').
func (p *requestParser) escape() error {
	p.i++
	if p.i == len(p.b) {
		return errRanOut
	}
	switch p.b[p.i] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		p.i++
		return nil
	case 'u':
		p.i++
		for range 4 {
			if p.i == len(p.b) {
				return errRanOut
			}
			if hexDigit(p.b[p.i]) < 0 {
				return p.syntax()
			}
			p.i++
		}
		return nil
	}
	return p.syntax()
}

func hexDigit(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// unquote decodes the bytes between the quotes of a string str parsed, as
// encoding/json does: a pair of \u escapes of a surrogate pair is one rune;
// a lone surrogate and each byte that is not part of valid UTF-8 become
// U+FFFD.
func unquote(raw []byte) []byte {
	b := make([]byte, 0, len(raw)+utf8.UTFMax)
	for r := 0; r < len(raw); {
		switch c := raw[r]; {
		case c == '\\':
			switch e := raw[r+1]; e {
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				rr := u4(raw[r:])
				r += 6
				if utf16.IsSurrogate(rr) {
					if pair := utf16.DecodeRune(rr, u4(raw[r:])); pair != unicode.ReplacementChar {
						b = utf8.AppendRune(b, pair)
						r += 6
						continue
					}
					rr = unicode.ReplacementChar
				}
				b = utf8.AppendRune(b, rr)
				continue
			default: // '"', '\\', '/'
				b = append(b, e)
			}
			r += 2
		case c < utf8.RuneSelf:
			b = append(b, c)
			r++
		default:
			rr, size := utf8.DecodeRune(raw[r:])
			b = utf8.AppendRune(b, rr)
			r += size
		}
	}
	return b
}

// u4 decodes the \uXXXX escape at the start of s, -1 when there is none.
func u4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		d := hexDigit(c)
		if d < 0 {
			return -1
		}
		r = r<<4 | d
	}
	return r
}

// appendVerifyResponse appends r as json.Encoder writes it: fields in
// order, the omitempty ones only when set, a newline at the end.
func appendVerifyResponse(b []byte, r *VerifyResponse) []byte {
	b = appendJSONString(append(b, `{"result":`...), r.Result)
	for _, f := range [...]struct{ name, value string }{
		{`,"reason":`, r.Reason}, {`,"organization":`, r.Organization}, {`,"workspace":`, r.Workspace},
		{`,"namespace":`, r.Namespace}, {`,"keyName":`, r.KeyName}, {`,"type":`, string(r.Type)},
	} {
		if f.value != "" {
			b = appendJSONString(append(b, f.name...), f.value)
		}
	}
	if p := r.Permissions; p != nil {
		b = append(b, `,"permissions":{`...)
		sep := ""
		for _, f := range [...]struct{ name, value string }{
			{`"metrics":`, string(p.Metrics)}, {`"completions":`, string(p.Completions)}, {`"prompts":`, string(p.Prompts)},
			{`"configs":`, string(p.Configs)}, {`"guardrails":`, string(p.Guardrails)}, {`"integrations":`, string(p.Integrations)},
			{`"providers":`, string(p.Providers)}, {`"models":`, string(p.Models)}, {`"users":`, string(p.Users)},
		} {
			if f.value != "" {
				b = appendJSONString(append(append(b, sep...), f.name...), f.value)
				sep = ","
			}
		}
		b = append(b, '}')
	}
	if r.ExpiresAt != nil {
		// time.Time's RFC 3339 form; a year it cannot write (beyond 9999)
		// leaves the field out, where encoding/json failed the whole answer.
		if t, err := r.ExpiresAt.AppendText(append(b, `,"expiresAt":"`...)); err == nil {
			b = append(t, '"')
		}
	}
	if len(r.RateLimits) > 0 {
		b = append(b, `,"rateLimits":[`...)
		for i, s := range r.RateLimits {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(append(b, `{"requests":`...), s.Requests, 10)
			b = appendJSONString(append(b, `,"per":`...), s.Per)
			b = strconv.AppendInt(append(b, `,"remaining":`...), s.Remaining, 10)
			b = append(strconv.AppendInt(append(b, `,"resetSeconds":`...), s.ResetSeconds, 10), '}')
		}
		b = append(b, ']')
	}
	if r.RetryAfterSeconds != 0 {
		b = strconv.AppendInt(append(b, `,"retryAfterSeconds":`...), r.RetryAfterSeconds, 10)
	}
	return append(b, '}', '\n')
}

// appendJSONString appends s as a JSON string as encoding/json writes it
// (HTML-safe): ", \ and control characters escaped, < > & as \u003c and so
// on, bytes that are not UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(append(b, s[start:i]...), `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(append(b, s[start:i]...), '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(append(b, s[start:]...), '"')
}

// jsonSafe are the ASCII bytes a JSON string holds as they are: printable,
// but not ", \, <, > or &.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := range utf8.RuneSelf {
		t[c] = c >= 0x20 && !strings.ContainsRune(`"\<>&`, rune(c))
	}
	return t
}()
