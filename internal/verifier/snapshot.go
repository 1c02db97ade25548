package verifier

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
	"unsafe"

	"k8s.io/client-go/rest"

	"github.com/tenantward/tenantward/internal/apikey"
)

// A saved index is the index's keys as of one resource version of the
// APIKeys, in a file of the verifier's own (the chart puts it in the pod's
// emptyDir), so that a restarted verifier replays the changes since that
// version instead of reading every APIKey again (keyLoader.resume in
// keywatch.go). It holds what the index holds — key hashes, names,
// permissions, never a key — and is refused whole when it is damaged, was
// saved for another API server, or is newer than the API server's state.
//
// Layout: the magic line, then uvarint-length-prefixed strings and
// uvarints: the API server it was saved for (origin), the resource
// version, the interned strings, rate-limit lists and model lists (without
// their id 0, the empty value), the number of keys and the keys; last, the
// SHA-256 of all that.
const snapshotMagic = "tenantward verifier index 1\n"

// Bounds of a saved index's parts: a damaged file is refused rather than
// read without bound.
const (
	maxSavedIndex  = 1 << 32 // bytes of the file
	maxSavedString = 1 << 12 // a string: names are at most 253 bytes, model patterns shorter than this
	maxSavedList   = 1 << 10 // items of a rate-limit or model list
	maxSavedName   = 253
)

var errDamaged = errors.New("damaged")

// originOf names the API server cfg reaches: its address and the digest of
// the certificate authority that vouches for it.
func originOf(cfg *rest.Config) string {
	ca := cfg.CAData
	if len(ca) == 0 && cfg.CAFile != "" {
		ca, _ = os.ReadFile(cfg.CAFile) // unreadable: the origin of no CA, as the client will find too
	}
	sum := sha256.Sum256(ca)
	return cfg.Host + " ca-sha256:" + hex.EncodeToString(sum[:])
}

// snapshotWriter appends the parts of a saved index; the first error sticks.
type snapshotWriter struct {
	w   *bufio.Writer
	buf [binary.MaxVarintLen64]byte
	err error
}

func (e *snapshotWriter) raw(b []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
}

func (e *snapshotWriter) byte(b byte) {
	if e.err == nil {
		e.err = e.w.WriteByte(b)
	}
}

func (e *snapshotWriter) uvarint(v uint64) { e.raw(binary.AppendUvarint(e.buf[:0], v)) }
func (e *snapshotWriter) varint(v int64)   { e.raw(binary.AppendVarint(e.buf[:0], v)) }

func (e *snapshotWriter) str(s string) {
	e.uvarint(uint64(len(s)))
	if e.err == nil {
		_, e.err = e.w.WriteString(s)
	}
}

func (e *snapshotWriter) stamp(s stamp) {
	e.varint(s.sec)
	e.uvarint(uint64(s.nsec)) //nolint:gosec // nanoseconds, below 1e9
}

// save writes the index's keys, as of resource version rv of the API server
// origin, to w. The caller is the only one to change keys (the key loader),
// so they stay as they are while written; the read lock is held a chunk of
// records at a time, so that an Organization's change waits for one chunk at
// most and verifications go on.
func (ix *Index) save(w io.Writer, origin, rv string) error {
	sum := sha256.New()
	e := &snapshotWriter{w: bufio.NewWriterSize(io.MultiWriter(w, sum), 64<<10)}
	e.raw([]byte(snapshotMagic))
	e.str(origin)
	e.str(rv)
	ix.mu.RLock()
	e.uvarint(uint64(len(ix.strs) - 1)) //nolint:gosec // id 0 is always there
	for _, s := range ix.strs[1:] {
		e.str(s)
	}
	e.uvarint(uint64(len(ix.limits) - 1)) //nolint:gosec // id 0 is always there
	for _, ls := range ix.limits[1:] {
		e.uvarint(uint64(len(ls.List)))
		for _, l := range ls.List {
			e.varint(l.Requests)
			e.varint(int64(l.Per))
		}
	}
	e.uvarint(uint64(len(ix.models) - 1)) //nolint:gosec // id 0 is always there
	for _, ms := range ix.models[1:] {
		e.uvarint(uint64(len(ms)))
		for _, m := range ms {
			e.str(m)
		}
	}
	e.uvarint(uint64(ix.byName.Len())) //nolint:gosec // a count
	n := ix.records.n
	ix.mu.RUnlock()
	for start := uint32(0); start < n && e.err == nil; start += 1 << chunkBits {
		ix.mu.RLock()
		for id := start; id < min(n, start+1<<chunkBits); id++ {
			if r := ix.records.at(id); r.flags&recUsed != 0 {
				ix.saveRecordLocked(e, id, r)
			}
		}
		ix.mu.RUnlock()
	}
	if e.err == nil {
		e.err = e.w.Flush()
	}
	if e.err != nil {
		return e.err
	}
	_, err := w.Write(sum.Sum(nil))
	return err
}

// saveRecordLocked writes record id. ix.mu is held.
func (ix *Index) saveRecordLocked(e *snapshotWriter, id uint32, r *record) {
	e.raw(r.current[:])
	e.uvarint(uint64(r.nameLen))
	e.raw(ix.names[r.name : r.name+r.nameLen])
	for _, v := range [...]uint32{r.namespace, r.organization, r.workspace, r.keyType, r.organizationUID, r.limits, r.models} {
		e.uvarint(uint64(v))
	}
	for _, l := range r.permissions {
		e.byte(byte(l))
	}
	e.byte(r.flags &^ recUsed)
	if r.flags&recExpires != 0 {
		e.stamp(r.expires)
	}
	if r.flags&recPrevious != 0 {
		p := ix.previous[id]
		e.raw(p.hash[:])
		e.stamp(p.until)
	}
}

// snapshotReader reads the parts of a saved index from b; the first error
// sticks and every later read gives zero values.
type snapshotReader struct {
	b   []byte
	err error
}

func (d *snapshotReader) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{errDamaged}, args...)...)
	}
	d.b = nil
}

func (d *snapshotReader) uvarint() uint64 { return readNumber(d, binary.Uvarint) }
func (d *snapshotReader) varint() int64   { return readNumber(d, binary.Varint) }

// readNumber reads a number of d with read, binary.Uvarint or binary.Varint.
func readNumber[T uint64 | int64](d *snapshotReader, read func([]byte) (T, int)) T {
	v, n := read(d.b)
	if n <= 0 {
		d.fail("a number")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *snapshotReader) bytes(n uint64) []byte {
	if n > uint64(len(d.b)) {
		d.fail("%d bytes past the end", n)
		return nil
	}
	b := d.b[:n]
	d.b = d.b[n:]
	return b
}

// count reads a count of items of at least min bytes each, at most limit.
func (d *snapshotReader) count(limit, min uint64) uint64 {
	n := d.uvarint()
	if n > limit || n*min > uint64(len(d.b)) {
		d.fail("a count of %d", n)
		return 0
	}
	return n
}

func (d *snapshotReader) str() string { return string(d.bytes(d.count(maxSavedString, 1))) }

// id reads an id below n.
func (d *snapshotReader) id(n int) uint32 {
	v := d.uvarint()
	if v >= uint64(n) { //nolint:gosec // a count
		d.fail("id %d of %d", v, n)
		return 0
	}
	return uint32(v) //nolint:gosec // below n, a count of ids
}

func (d *snapshotReader) stamp() stamp {
	s := stamp{sec: d.varint()}
	if ns := d.uvarint(); ns < 1e9 {
		s.nsec = int32(ns) //nolint:gosec // below 1e9
	} else {
		d.fail("%d nanoseconds", ns)
	}
	return s
}

func (d *snapshotReader) hash() (h apikey.Hash) {
	copy(h[:], d.bytes(uint64(len(h))))
	return h
}

// loadIndex reads a saved index of the API server origin from b: its keys
// in a new index and the resource version they are as of.
func loadIndex(b []byte, origin string) (*Index, string, error) {
	if len(b) < len(snapshotMagic)+sha256.Size || !bytes.HasPrefix(b, []byte(snapshotMagic)) {
		return nil, "", fmt.Errorf("%w: not a saved index of this version", errDamaged)
	}
	body := b[:len(b)-sha256.Size]
	if sum := sha256.Sum256(body); !bytes.Equal(sum[:], b[len(body):]) {
		return nil, "", fmt.Errorf("%w: its checksum does not match", errDamaged)
	}
	d := &snapshotReader{b: body[len(snapshotMagic):]}
	if o := d.str(); d.err == nil && o != origin {
		return nil, "", fmt.Errorf("saved for another API server (%s)", o)
	}
	rv := d.str()
	ix := NewIndex()
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for n := d.count(maxSavedIndex, 1); n > 0 && d.err == nil; n-- {
		if s, want := d.str(), len(ix.strs); ix.intern(s) != uint32(want) { //nolint:gosec // fewer than the file's bytes
			d.fail("the string %q twice", s)
		}
	}
	for n := d.count(maxSavedIndex, 1); n > 0 && d.err == nil; n-- {
		ls := make([]Limit, d.count(maxSavedList, 2))
		for i := range ls {
			ls[i] = Limit{Requests: d.varint(), Per: time.Duration(d.varint())}
		}
		if want := len(ix.limits); ix.internLimits(ls) != uint32(want) { //nolint:gosec // fewer than the file's bytes
			d.fail("a rate-limit list twice")
		}
	}
	for n := d.count(maxSavedIndex, 1); n > 0 && d.err == nil; n-- {
		ms := make([]string, d.count(maxSavedList, 1))
		for i := range ms {
			ms[i] = d.str()
		}
		if want := len(ix.models); ix.internModels(ms) != uint32(want) { //nolint:gosec // fewer than the file's bytes
			d.fail("a model list twice")
		}
	}
	keys := d.count(maxSavedIndex, sha256.Size)
	ix.byName.Reserve(int(keys)) //nolint:gosec // fewer than the file's bytes
	ix.byHash.Reserve(int(keys)) //nolint:gosec // fewer than the file's bytes
	for i := uint64(0); i < keys && d.err == nil; i++ {
		ix.loadRecordLocked(d)
	}
	switch {
	case d.err != nil:
		return nil, "", d.err
	case len(d.b) != 0:
		return nil, "", fmt.Errorf("%w: %d bytes after the last key", errDamaged, len(d.b))
	case uint64(ix.byName.Len()) != keys: //nolint:gosec // a count
		return nil, "", fmt.Errorf("%w: %d keys of %d distinct names", errDamaged, keys, ix.byName.Len())
	}
	return ix, rv, nil
}

// loadRecordLocked reads one key into the index. ix.mu is held.
func (ix *Index) loadRecordLocked(d *snapshotReader) {
	r := record{current: d.hash()}
	name := d.bytes(d.count(maxSavedName, 1))
	if len(name) == 0 {
		d.fail("an empty name")
	}
	strs := len(ix.strs)
	r.namespace, r.organization, r.workspace, r.keyType, r.organizationUID = d.id(strs), d.id(strs), d.id(strs), d.id(strs), d.id(strs)
	r.limits, r.models = d.id(len(ix.limits)), d.id(len(ix.models))
	for i, l := range d.bytes(uint64(len(r.permissions))) {
		if r.permissions[i] = Level(l); Level(l) > LevelDelete {
			d.fail("a permission level %d", l)
		}
	}
	flags := d.bytes(1)
	if len(flags) == 1 {
		r.flags = flags[0]
	}
	if r.flags&^(recDisabled|recExpires|recPrevious) != 0 {
		d.fail("flags %#x", r.flags)
	}
	if r.flags&recExpires != 0 {
		r.expires = d.stamp()
	}
	var prev previousKey
	if r.flags&recPrevious != 0 {
		prev = previousKey{hash: d.hash(), until: d.stamp()}
	}
	if d.err != nil {
		return
	}
	// The name's bytes are copied into the index's arena; the view does not outlive this call.
	ix.setLocked(unsafe.String(&name[0], len(name)), r, prev) //nolint:gosec // a view that does not outlive the call
}

// readIndexFile reads the saved index at path (see loadIndex).
func readIndexFile(path, origin string) (*Index, string, error) {
	f, err := os.Open(path) //nolint:gosec // the operator's own setting
	if err != nil {
		return nil, "", err
	}
	defer func() { _ = f.Close() }()
	info, err := f.Stat()
	if err != nil {
		return nil, "", err
	}
	if info.Size() > maxSavedIndex {
		return nil, "", fmt.Errorf("%w: %d bytes", errDamaged, info.Size())
	}
	b := make([]byte, info.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, "", err
	}
	return loadIndex(b, origin)
}

// writeIndexFile saves ix, as of rv, at path: into a new file beside it,
// readable by its owner only, renamed over path once complete, so that a
// reader finds the previous file or this one whole.
func writeIndexFile(path string, ix *Index, origin, rv string) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if err := ix.save(f, origin, rv); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
