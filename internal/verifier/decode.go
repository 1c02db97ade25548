package verifier

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
	"unsafe"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
)

// The API server's JSON is read in one pass, straight into the Key the index
// needs: no typed APIKey, no second parse to find the kind, and everything
// else (managed fields, annotations, conditions, descriptions) skipped
// without being kept. keywatch.go feeds it the watch stream and list pages.

// jsonReader reads JSON values from a stream.
type jsonReader struct {
	r *bufio.Reader
	// buf holds the last string read.
	buf []byte
	// strs holds the strings of the object being decoded; Key's strings are
	// views of it, valid until the next object (the index copies what it
	// keeps, see Index.SetKey).
	strs []byte
}

// readBufferSize is the stream's read buffer.
const readBufferSize = 64 << 10

func newJSONReader(r io.Reader) *jsonReader {
	return &jsonReader{r: bufio.NewReaderSize(r, readBufferSize)}
}

var errTooDeep = errors.New("JSON nested too deeply")

// maxDepth bounds the nesting of the values skipped.
const maxDepth = 1000

// next returns the next byte that is not white space, consuming it.
func (d *jsonReader) next() (byte, error) {
	for {
		c, err := d.r.ReadByte()
		if err != nil {
			return 0, unexpectedEOF(err)
		}
		if c != ' ' && c != '\n' && c != '\r' && c != '\t' {
			return c, nil
		}
	}
}

// peek is next without consuming the byte.
func (d *jsonReader) peek() (byte, error) {
	c, err := d.next()
	if err == nil {
		_ = d.r.UnreadByte()
	}
	return c, err
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (d *jsonReader) expect(want byte) error {
	c, err := d.next()
	if err != nil {
		return err
	}
	if c != want {
		return fmt.Errorf("invalid JSON: %q where %q was expected", c, want)
	}
	return nil
}

// end reports whether the stream has no more values.
func (d *jsonReader) end() bool {
	_, err := d.peek()
	return errors.Is(err, io.ErrUnexpectedEOF)
}

// object reads an object, calling field for each member with its name (valid
// only until field reads the value, which it must read or skip).
func (d *jsonReader) object(field func(name []byte) error) error {
	if err := d.expect('{'); err != nil {
		return err
	}
	if c, err := d.peek(); err != nil || c == '}' {
		_, _ = d.next()
		return err
	}
	for {
		name, err := d.bytes()
		if err != nil {
			return err
		}
		if err := d.expect(':'); err != nil {
			return err
		}
		if err := field(name); err != nil {
			return err
		}
		c, err := d.next()
		switch {
		case err != nil:
			return err
		case c == '}':
			return nil
		case c != ',':
			return fmt.Errorf("invalid JSON: %q after an object member", c)
		}
	}
}

// array reads an array, calling elem to read each element.
func (d *jsonReader) array(elem func() error) error {
	if err := d.expect('['); err != nil {
		return err
	}
	if c, err := d.peek(); err != nil || c == ']' {
		_, _ = d.next()
		return err
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		c, err := d.next()
		switch {
		case err != nil:
			return err
		case c == ']':
			return nil
		case c != ',':
			return fmt.Errorf("invalid JSON: %q after an array element", c)
		}
	}
}

// null reads a null if one comes next.
func (d *jsonReader) null() (bool, error) {
	c, err := d.peek()
	if err != nil || c != 'n' {
		return false, err
	}
	return true, d.literal("null")
}

func (d *jsonReader) literal(lit string) error {
	for i := range len(lit) {
		c, err := d.r.ReadByte()
		if err != nil {
			return unexpectedEOF(err)
		}
		if c != lit[i] {
			return fmt.Errorf("invalid JSON literal, expected %s", lit)
		}
	}
	return nil
}

// bytes reads a string (null reads as empty) into d.buf.
func (d *jsonReader) bytes() ([]byte, error) {
	d.buf = d.buf[:0]
	if isNull, err := d.null(); isNull || err != nil {
		return d.buf, err
	}
	if err := d.expect('"'); err != nil {
		return nil, err
	}
	plain := true
	for {
		chunk, err := d.r.ReadSlice('"')
		if errors.Is(err, bufio.ErrBufferFull) {
			d.buf = append(d.buf, chunk...)
			continue
		}
		if err != nil {
			return nil, unexpectedEOF(err)
		}
		d.buf = append(d.buf, chunk[:len(chunk)-1]...)
		// The quote ends the string unless an odd number of backslashes escapes it.
		n := 0
		for n < len(d.buf) && d.buf[len(d.buf)-1-n] == '\\' {
			n++
		}
		if n%2 == 0 {
			break
		}
		d.buf = append(d.buf, '"')
	}
	for _, c := range d.buf {
		if c == '\\' || c < 0x20 {
			plain = false
			break
		}
	}
	if plain {
		return d.buf, nil
	}
	// Escapes are rare in what the verifier reads: let encoding/json
	// check and decode them.
	var s string
	quoted := append(append([]byte{'"'}, d.buf...), '"')
	if err := json.Unmarshal(quoted, &s); err != nil {
		return nil, fmt.Errorf("invalid JSON string: %w", err)
	}
	d.buf = append(d.buf[:0], s...)
	return d.buf, nil
}

// str reads a string into d.strs and returns a view of it (see jsonReader.strs).
func (d *jsonReader) str() (string, error) {
	b, err := d.bytes()
	if err != nil || len(b) == 0 {
		return "", err
	}
	off := len(d.strs)
	d.strs = append(d.strs, b...)
	return unsafe.String(&d.strs[off], len(b)), nil //nolint:gosec // a view the index copies from (Index.SetKey), see jsonReader.strs
}

// int reads an integer.
func (d *jsonReader) int() (int64, error) {
	b, err := d.scalar()
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid JSON integer: %w", err)
	}
	return n, nil
}

// scalar reads a number or literal into d.buf.
func (d *jsonReader) scalar() ([]byte, error) {
	c, err := d.next()
	if err != nil {
		return nil, err
	}
	d.buf = append(d.buf[:0], c)
	for {
		c, err := d.r.ReadByte()
		if errors.Is(err, io.EOF) {
			return d.buf, nil
		}
		if err != nil {
			return nil, err
		}
		switch c {
		case ',', '}', ']', ' ', '\n', '\r', '\t':
			_ = d.r.UnreadByte()
			return d.buf, nil
		}
		d.buf = append(d.buf, c)
	}
}

// time reads an RFC 3339 time, as metav1.Time writes it; null is the zero time.
func (d *jsonReader) time() (time.Time, error) {
	b, err := d.bytes()
	if err != nil || len(b) == 0 {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339, string(b))
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid time: %w", err)
	}
	return t, nil
}

// skip reads a value and drops it.
func (d *jsonReader) skip() error {
	c, err := d.peek()
	if err != nil {
		return err
	}
	switch c {
	case '"':
		_, err := d.bytes()
		return err
	case '{', '[':
	default:
		_, err := d.scalar()
		return err
	}
	depth := 0
	for {
		c, err := d.r.ReadByte()
		if err != nil {
			return unexpectedEOF(err)
		}
		switch c {
		case '{', '[':
			if depth++; depth > maxDepth {
				return errTooDeep
			}
		case '}', ']':
			if depth--; depth == 0 {
				return nil
			}
		case '"':
			if err := d.skipString(); err != nil {
				return err
			}
		}
	}
}

// skipString reads the rest of a string whose opening quote was read.
func (d *jsonReader) skipString() error {
	for {
		c, err := d.r.ReadByte()
		if err != nil {
			return unexpectedEOF(err)
		}
		switch c {
		case '"':
			return nil
		case '\\':
			if _, err := d.r.ReadByte(); err != nil {
				return unexpectedEOF(err)
			}
		}
	}
}

// objectMeta is what the loader reads of an object's metadata besides the
// key: its resource version, and the annotation that ends a watch's initial events.
type objectMeta struct {
	resourceVersion  string
	initialEventsEnd bool
}

// initialEventsEndAnnotation marks the bookmark after a watch's initial
// events (metav1.InitialEventsAnnotationKey).
const initialEventsEndAnnotation = "k8s.io/initial-events-end"

// key reads an APIKey into k (reset first) and m.
func (d *jsonReader) key(k *Key, m *objectMeta) error {
	models := k.Models[:0]
	limits := k.RateLimits[:0]
	*k = Key{}
	d.strs = d.strs[:0]
	err := d.object(func(name []byte) error {
		switch string(name) {
		case "metadata":
			return d.object(func(name []byte) error {
				var err error
				switch string(name) {
				case "name":
					k.Name, err = d.str()
				case "namespace":
					k.Namespace, err = d.str()
				case "resourceVersion":
					var b []byte
					b, err = d.bytes()
					m.resourceVersion = string(b)
				case "annotations":
					err = d.object(func(name []byte) error {
						if string(name) != initialEventsEndAnnotation {
							return d.skip()
						}
						v, err := d.bytes()
						m.initialEventsEnd = string(v) == "true"
						return err
					})
				default:
					err = d.skip()
				}
				return err
			})
		case "spec":
			return d.object(func(name []byte) error {
				var err error
				switch string(name) {
				case "state":
					var b []byte
					b, err = d.bytes()
					k.Disabled = string(b) == string(accessv1alpha1.KeyDisabled)
				case "expiresAt":
					k.ExpiresAt, err = d.time()
				case "permissions":
					err = d.permissions(&k.Permissions)
				default:
					err = d.skip()
				}
				return err
			})
		case "status":
			return d.object(func(name []byte) error {
				var err error
				switch string(name) {
				case "hash":
					k.Hash, err = d.str()
				case "previousHash":
					k.PreviousHash, err = d.str()
				case "previousValidUntil":
					k.PreviousValidUntil, err = d.time()
				case "organization":
					k.Organization, err = d.str()
				case "organizationUID":
					k.OrganizationUID, err = d.str()
				case "workspace":
					k.Workspace, err = d.str()
				case "type":
					var t string
					t, err = d.str()
					k.Type = accessv1alpha1.KeyType(t)
				case "rateLimits":
					err = d.array(func() error {
						l, err := d.limit()
						limits = append(limits, l)
						return err
					})
				case "models":
					err = d.array(func() error {
						s, err := d.str()
						models = append(models, s)
						return err
					})
				default:
					err = d.skip()
				}
				return err
			})
		default:
			return d.skip()
		}
	})
	if len(limits) > 0 {
		k.RateLimits = limits
	}
	if len(models) > 0 {
		k.Models = models
	}
	return err
}

// permissions reads spec.permissions straight into p, by the verifier's one
// feature table (featureNames, levelName). A value that is not one of the
// API's levels reads as Disabled, as PermissionsOf reads it.
func (d *jsonReader) permissions(p *Permissions) error {
	return d.object(func(name []byte) error {
		f, ok := featureNamed(name)
		if !ok {
			return d.skip()
		}
		v, err := d.bytes()
		p[f] = LevelDisabled
		for _, l := range [...]Level{LevelRead, LevelWrite, LevelDelete} {
			if (f.graded() || l == LevelEnabled) && string(v) == levelName(f, l) {
				p[f] = l
			}
		}
		return err
	})
}

// featureNamed finds the feature whose JSON name is name, exactly.
func featureNamed(name []byte) (Feature, bool) {
	for f, n := range featureNames {
		if string(name) == n {
			return Feature(f), true
		}
	}
	return 0, false
}

// limit reads one of status.rateLimits.
func (d *jsonReader) limit() (Limit, error) {
	var l Limit
	err := d.object(func(name []byte) error {
		switch string(name) {
		case "requests":
			n, err := d.int()
			l.Requests = n
			return err
		case "per":
			b, err := d.bytes()
			if err != nil {
				return err
			}
			if l.Per, err = time.ParseDuration(string(b)); err != nil {
				return fmt.Errorf("invalid rate-limit period: %w", err)
			}
			return nil
		default:
			return d.skip()
		}
	})
	return l, err
}

// Watch event types.
const (
	eventAdded    = "ADDED"
	eventModified = "MODIFIED"
	eventDeleted  = "DELETED"
	eventBookmark = "BOOKMARK"
	eventError    = "ERROR"
)

// event is one watch event of APIKeys.
type event struct {
	typ  string
	key  Key
	meta objectMeta
	// status is the object of an ERROR event.
	status eventStatus
}

// eventStatus is what the loader reads of a metav1.Status.
type eventStatus struct {
	code    int64
	reason  string
	message string
}

// event reads the next watch event into ev. Its type must come before its
// object (as the API server writes it), so that the object is read once.
func (d *jsonReader) event(ev *event) error {
	ev.typ, ev.meta, ev.status = "", objectMeta{}, eventStatus{}
	return d.object(func(name []byte) error {
		switch string(name) {
		case "type":
			b, err := d.bytes()
			for _, t := range []string{eventAdded, eventModified, eventDeleted, eventBookmark, eventError} {
				if string(b) == t {
					ev.typ = t
				}
			}
			if err == nil && ev.typ == "" {
				err = fmt.Errorf("unknown watch event type %q", b)
			}
			return err
		case "object":
			switch ev.typ {
			case "":
				return errors.New("a watch event's object came before its type")
			case eventError:
				return d.status(&ev.status)
			}
			return d.key(&ev.key, &ev.meta)
		default:
			return d.skip()
		}
	})
}

// status reads a metav1.Status.
func (d *jsonReader) status(s *eventStatus) error {
	return d.object(func(name []byte) error {
		var err error
		var b []byte
		switch string(name) {
		case "code":
			s.code, err = d.int()
		case "reason":
			b, err = d.bytes()
			s.reason = string(b)
		case "message":
			b, err = d.bytes()
			s.message = string(b)
		default:
			err = d.skip()
		}
		return err
	})
}

// list reads an APIKeyList, calling each for every item (its Key is reused
// for the next), and returns the list's resource version and continue token.
func (d *jsonReader) list(each func(*Key) error) (resourceVersion, cont string, err error) {
	var k Key
	var m objectMeta
	err = d.object(func(name []byte) error {
		switch string(name) {
		case "metadata":
			return d.object(func(name []byte) error {
				var err error
				var b []byte
				switch string(name) {
				case "resourceVersion":
					b, err = d.bytes()
					resourceVersion = string(b)
				case "continue":
					b, err = d.bytes()
					cont = string(b)
				default:
					err = d.skip()
				}
				return err
			})
		case "items":
			return d.array(func() error {
				if err := d.key(&k, &m); err != nil {
					return err
				}
				return each(&k)
			})
		default:
			return d.skip()
		}
	})
	return resourceVersion, cont, err
}
