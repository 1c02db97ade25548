package verifier

import (
	"encoding/binary"
	"errors"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"k8s.io/apimachinery/pkg/types"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/apikey"
	"github.com/tenantward/tenantward/internal/hashtable"
)

// Code is the result of verifying a key.
type Code uint8

// Result codes.
const (
	Valid Code = iota
	NotFound
	Expired
	Disabled
	InsufficientPermissions
	Malformed
	// RateLimited is a valid key, allowed on the route, over one of its rate
	// limits (internal/verifier/ratelimit.go).
	RateLimited
	numCodes
)

var codeNames = [numCodes]string{"VALID", "NOT_FOUND", "EXPIRED", "DISABLED", "INSUFFICIENT_PERMISSIONS", "MALFORMED", "RATE_LIMITED"}

// String returns the code as on the wire, e.g. NOT_FOUND.
func (c Code) String() string { return codeNames[c] }

// Entry is what the verifier knows about one APIKey: identity, permissions and
// lifecycle, never the key. Verify materialises it from the index's compact
// record without allocating: its strings and lists are shared with the index
// and with every other Entry of the same values, so they must never be modified.
// Name is a view of the index's name arena, which the index replaces as it
// compacts or relists: whatever keeps a name beyond the answer copies it
// (usage.go), or keeps nothing of it (the rate limiter keeps a hash).
type Entry struct {
	Namespace    string
	Name         string
	Organization string
	Workspace    string
	Type         accessv1alpha1.KeyType
	Permissions  Permissions
	Disabled     bool
	// ExpiresAt is the key's expiry; zero when it does not expire.
	ExpiresAt time.Time
	// RateLimits are the key's effective rate limits (status.rateLimits),
	// with what its answers need of them computed once (ratelimit.go).
	RateLimits *Limits
	// Models are the key's effective model patterns (status.models); empty
	// when it may call any model.
	Models []string
}

// Limit is one rate-limit window of a key: at most Requests calls per Per.
type Limit struct {
	Requests int64
	Per      time.Duration
}

// Key is an APIKey reduced to what verification reads, as the list and watch
// decoder (decode.go) or Set produce it. The index copies what it keeps.
type Key struct {
	Namespace, Name string
	Permissions     Permissions
	Disabled        bool
	// ExpiresAt is spec.expiresAt; zero when the key does not expire.
	ExpiresAt time.Time
	// Hash and PreviousHash are status.hash and status.previousHash (hex).
	Hash, PreviousHash string
	// PreviousValidUntil ends the previous key's grace; zero: no previous key.
	PreviousValidUntil                       time.Time
	Organization, OrganizationUID, Workspace string
	Type                                     accessv1alpha1.KeyType
	RateLimits                               []Limit
	Models                                   []string
}

// keyOf reduces an APIKey.
func keyOf(k *accessv1alpha1.APIKey) *Key {
	o := &Key{
		Namespace: k.Namespace, Name: k.Name,
		Permissions: PermissionsOf(&k.Spec.Permissions),
		Disabled:    k.Spec.State == accessv1alpha1.KeyDisabled,
		Hash:        k.Status.Hash, PreviousHash: k.Status.PreviousHash,
		Organization: k.Status.Organization, OrganizationUID: k.Status.OrganizationUID, Workspace: k.Status.Workspace,
		Type: k.Status.Type,
	}
	if k.Spec.ExpiresAt != nil {
		o.ExpiresAt = k.Spec.ExpiresAt.Time
	}
	if k.Status.PreviousValidUntil != nil {
		o.PreviousValidUntil = k.Status.PreviousValidUntil.Time
	}
	for _, l := range k.Status.RateLimits {
		o.RateLimits = append(o.RateLimits, Limit{Requests: l.Requests, Per: l.Per.Duration})
	}
	for _, m := range k.Status.Models {
		o.Models = append(o.Models, string(m))
	}
	return o
}

// record is one APIKey in the index: fixed size and free of pointers, so
// that the garbage collector has nothing to scan however many keys there
// are. Strings and lists are uint32 ids into the index's shared tables; the
// name is a slice of the index's name arena.
type record struct {
	current apikey.Hash
	// expires is spec.expiresAt (see flags).
	expires                                                      stamp
	name, nameLen                                                uint32
	namespace, organization, workspace, keyType, organizationUID uint32
	limits, models                                               uint32
	permissions                                                  Permissions
	flags                                                        uint8
}

// Record flags.
const (
	recUsed uint8 = 1 << iota
	recDisabled
	recExpires
	// recPrevious: the key was rotated and its previous key is in its
	// grace period (Index.previous).
	recPrevious
)

// recordStore holds records in chunks of 1<<chunkBits: it grows a chunk at
// a time and never copies a record, so a load of the whole list leaves
// neither the slack of a grown slice (up to a quarter of it) nor the garbage
// of its outgrown copies, and finding a record costs one more load.
type recordStore struct {
	chunks []*recordChunk
	// n is the number of records, used or free.
	n uint32
}

const chunkBits = 12

type recordChunk [1 << chunkBits]record

// at returns record id, which is below n.
func (rs *recordStore) at(id uint32) *record {
	return &rs.chunks[id>>chunkBits][id&(1<<chunkBits-1)]
}

// add appends a zero record and returns its id.
func (rs *recordStore) add() uint32 {
	if int(rs.n>>chunkBits) == len(rs.chunks) {
		rs.chunks = append(rs.chunks, new(recordChunk))
	}
	rs.n++
	return rs.n - 1
}

// previousKey is a rotated key's previous key, verifying until its grace ends.
type previousKey struct {
	hash  apikey.Hash
	until stamp
}

type stamp struct {
	sec  int64
	nsec int32
}

func stampOf(t time.Time) stamp { return stamp{t.Unix(), int32(t.Nanosecond())} } //nolint:gosec // nanoseconds are below 1e9
func (s stamp) time() time.Time { return time.Unix(s.sec, int64(s.nsec)).UTC() }

// Index maps key hashes to APIKeys, and knows the live Organizations: a key
// whose organization does not exist or is being deleted is NOT_FOUND. It is
// safe for concurrent use; Verify takes a read lock and does not allocate.
//
// Keys are records in fixed-size chunks (deleted ones go to a free list and are
// reused); two tables (internal/hashtable) find them by key hash and by namespace and
// name. The strings many keys share (namespace, organization, workspace,
// type, organization UID) and the rate-limit and model lists are interned:
// each distinct value is held once and records refer to it by id. The
// interned tables only grow until the next full list (Replace, or a relist
// of the loader) rebuilds the index; they are bounded by the tenants'
// namespaces and distinct policies, not by the number of keys.
type Index struct {
	mu      sync.RWMutex
	records recordStore
	free    []uint32
	// byHash refers to records: id<<1, or id<<1|1 for a previous key.
	byHash, byName hashtable.Table
	// previous holds the previous keys of the records that have one (only
	// rotated keys in their grace period), so that the others do not carry
	// room for it.
	previous map[uint32]previousKey
	// names holds the records' names back to back; it is only ever
	// appended to (Entry names are views of it), and copied without the
	// names of deleted records once those are most of it.
	names     []byte
	deadNames int
	strs      []string
	strIDs    map[string]uint32
	limits    []*Limits
	limitIDs  map[string]uint32
	models    [][]string
	modelIDs  map[string]uint32
	// orgs are the UIDs of the Organizations that exist and are not being
	// deleted, by name.
	orgs map[string]types.UID
	seed maphash.Seed
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{
		strs: []string{""}, strIDs: map[string]uint32{"": 0},
		limits: []*Limits{newLimits(nil)}, limitIDs: map[string]uint32{"": 0},
		models: [][]string{nil}, modelIDs: map[string]uint32{"": 0},
		previous: map[uint32]previousKey{}, orgs: map[string]types.UID{}, seed: maphash.MakeSeed(),
	}
}

// errOrgGone is the reason of a NOT_FOUND for a key whose organization is gone.
var errOrgGone = errors.New("the key's organization does not exist or is being deleted (or was replaced by another of the same name)")

// Result is the outcome of Verify. Entry is set for every code except
// NotFound and Malformed (then it is the zero Entry, with no Name).
type Result struct {
	Code  Code
	Entry Entry
	// Reason explains a Malformed result, or a NotFound one for a key whose
	// organization is gone (it never contains the key).
	Reason error
}

// Verify checks key against the index: format and checksum first (no lookup
// for a malformed key), then its hash, state, expiry and the permissions in needs.
func (ix *Index) Verify(key string, needs []Need, now time.Time) Result {
	if _, err := apikey.Parse(key); err != nil {
		return Result{Code: Malformed, Reason: err}
	}
	h := apikey.Sum(key)
	var (
		r    record
		e    Entry
		live bool
	)
	ix.mu.RLock()
	pos := ix.byHash.Find(hashOf(&h), func(ref uint32) bool { return ix.hashAt(ref) == h })
	ok := pos >= 0
	if ok {
		ref := ix.byHash.Ref(pos)
		r = *ix.records.at(ref >> 1)
		if ref&1 == 1 {
			// A previous key: only until the end of its grace.
			ok = now.Before(ix.previous[ref>>1].until.time())
		}
		live = ok && ix.liveLocked(&r)
		if live {
			e = ix.entryLocked(&r)
		}
	}
	ix.mu.RUnlock()
	switch {
	case !ok:
		return Result{Code: NotFound}
	case !live:
		return Result{Code: NotFound, Reason: errOrgGone}
	case e.Disabled:
		return Result{Code: Disabled, Entry: e}
	case !e.ExpiresAt.IsZero() && !now.Before(e.ExpiresAt):
		return Result{Code: Expired, Entry: e}
	case !e.Permissions.satisfies(needs):
		return Result{Code: InsufficientPermissions, Entry: e}
	}
	return Result{Code: Valid, Entry: e}
}

// hashOf is the table hash of a key hash: its first bytes (it is a SHA-256).
func hashOf(h *apikey.Hash) uint32 { return binary.LittleEndian.Uint32(h[:4]) }

// hashAt returns the key hash a byHash reference stands for. ix.mu is held.
func (ix *Index) hashAt(ref uint32) apikey.Hash {
	if ref&1 == 1 {
		return ix.previous[ref>>1].hash
	}
	return ix.records.at(ref >> 1).current
}

// entryLocked materialises r without allocating. ix.mu is held.
func (ix *Index) entryLocked(r *record) Entry {
	e := Entry{
		Namespace:    ix.strs[r.namespace],
		Name:         unsafe.String(unsafe.SliceData(ix.names[r.name:]), r.nameLen), //nolint:gosec // the arena is append-only: these bytes never change
		Organization: ix.strs[r.organization],
		Workspace:    ix.strs[r.workspace],
		Type:         accessv1alpha1.KeyType(ix.strs[r.keyType]),
		Permissions:  r.permissions,
		Disabled:     r.flags&recDisabled != 0,
		RateLimits:   ix.limits[r.limits],
		Models:       ix.models[r.models],
	}
	if r.flags&recExpires != 0 {
		e.ExpiresAt = r.expires.time()
	}
	return e
}

// liveLocked reports whether r's organization is live and, when the key
// recorded its organization's UID, is that same Organization. ix.mu is held.
func (ix *Index) liveLocked(r *record) bool {
	uid, ok := ix.orgs[ix.strs[r.organization]]
	return ok && (r.organizationUID == 0 || ix.strs[r.organizationUID] == string(uid))
}

// SetOrganization records the UID of the live Organization name; an empty
// uid records that it does not exist or is being deleted.
func (ix *Index) SetOrganization(name string, uid types.UID) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if uid != "" {
		ix.orgs[name] = uid
	} else {
		delete(ix.orgs, name)
	}
}

// ReplaceOrganizations swaps the live Organizations (UIDs by name) for orgs, a full list.
func (ix *Index) ReplaceOrganizations(orgs map[string]types.UID) {
	ix.mu.Lock()
	ix.orgs = orgs
	ix.mu.Unlock()
}

// Len returns the number of APIKeys in the index.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.byName.Len()
}

// Set adds or replaces the APIKey k.
func (ix *Index) Set(k *accessv1alpha1.APIKey) { ix.SetKey(keyOf(k)) }

// SetKey adds or replaces the key k. A key with no hash in status (not
// issued yet) is removed, and an invalid hash (which the CRD's pattern rules
// out) likewise, so that nothing unverifiable stays in the index. The index
// keeps no reference to k nor to its strings.
func (ix *Index) SetKey(k *Key) {
	current, err := apikey.ParseHash(k.Hash)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ns := ix.intern(k.Namespace)
	if err != nil {
		if pos := ix.findName(ns, k.Name); pos >= 0 {
			ix.removeLocked(pos)
		}
		return
	}
	r := record{
		current: current, namespace: ns,
		organization: ix.intern(k.Organization), workspace: ix.intern(k.Workspace),
		keyType: ix.intern(string(k.Type)), organizationUID: ix.intern(k.OrganizationUID),
		limits: ix.internLimits(k.RateLimits), models: ix.internModels(k.Models),
		permissions: k.Permissions,
	}
	if k.Disabled {
		r.flags |= recDisabled
	}
	if !k.ExpiresAt.IsZero() {
		r.flags |= recExpires
		r.expires = stampOf(k.ExpiresAt)
	}
	var prev previousKey
	if k.PreviousHash != "" && !k.PreviousValidUntil.IsZero() {
		if h, err := apikey.ParseHash(k.PreviousHash); err == nil && h != current {
			r.flags |= recPrevious
			prev = previousKey{h, stampOf(k.PreviousValidUntil)}
		}
	}
	ix.setLocked(k.Name, r, prev)
}

// setLocked adds or replaces the key named name in namespace r.namespace
// with r (its name fields aside) and, when r has recPrevious, its previous
// key prev. ix.mu is held.
func (ix *Index) setLocked(name string, r record, prev previousKey) {
	var id uint32
	if pos := ix.findName(r.namespace, name); pos >= 0 {
		// The same name: keep the record and its name, re-point its hashes.
		id = ix.byName.Ref(pos)
		ix.unhashLocked(id)
	} else {
		id = ix.allocLocked()
		at := ix.records.at(id)
		at.name, at.nameLen = uint32(len(ix.names)), uint32(len(name)) //nolint:gosec // names are at most 253 bytes; 4 GiB of them would be 17 million keys
		ix.names = append(ix.names, name...)
		ix.byName.Insert(ix.nameHash(r.namespace, name), id)
	}
	at := ix.records.at(id)
	r.name, r.nameLen, r.flags = at.name, at.nameLen, r.flags|recUsed
	*at = r
	if r.flags&recPrevious != 0 {
		ix.previous[id] = prev
	}
	ix.hashLocked(id)
}

// Delete removes the APIKey namespace/name.
func (ix *Index) Delete(namespace, name string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	id, ok := ix.strIDs[namespace]
	if !ok {
		return
	}
	if pos := ix.findName(id, name); pos >= 0 {
		ix.removeLocked(pos)
	}
}

// ReplaceKeys swaps the keys of the index for those of fresh, which is not
// used afterwards; the live Organizations stay. The names of fresh, grown
// by appending, are copied to their length first (the records grow by
// chunks and have no slack to drop).
func (ix *Index) ReplaceKeys(fresh *Index) {
	fresh.names = slices.Clone(fresh.names)
	ix.mu.Lock()
	ix.records, ix.free, ix.byHash, ix.byName, ix.previous = fresh.records, fresh.free, fresh.byHash, fresh.byName, fresh.previous
	ix.names, ix.deadNames, ix.strs, ix.strIDs = fresh.names, fresh.deadNames, fresh.strs, fresh.strIDs
	ix.limits, ix.limitIDs, ix.models, ix.modelIDs, ix.seed = fresh.limits, fresh.limitIDs, fresh.models, fresh.modelIDs, fresh.seed
	ix.mu.Unlock()
}

// findName returns the byName position of namespace id ns and name, or -1. ix.mu is held.
func (ix *Index) findName(ns uint32, name string) int {
	return ix.byName.Find(ix.nameHash(ns, name), func(id uint32) bool {
		r := ix.records.at(id)
		return r.namespace == ns && string(ix.names[r.name:r.name+r.nameLen]) == name
	})
}

func (ix *Index) nameHash(ns uint32, name string) uint32 {
	return uint32(maphash.String(ix.seed, name)) ^ ns*0x9e3779b9 //nolint:gosec // truncating a hash
}

// allocLocked returns a free record id. ix.mu is held.
func (ix *Index) allocLocked() uint32 {
	if n := len(ix.free); n > 0 {
		id := ix.free[n-1]
		ix.free = ix.free[:n-1]
		return id
	}
	return ix.records.add()
}

// hashLocked makes record id findable by its hashes. A hash already in the
// index (the same key in two APIKeys, which the operator never issues) now
// finds this record, as the most recent. ix.mu is held.
func (ix *Index) hashLocked(id uint32) {
	r := ix.records.at(id)
	ix.hashRef(&r.current, id<<1)
	if r.flags&recPrevious != 0 {
		prev := ix.previous[id].hash
		ix.hashRef(&prev, id<<1|1)
	}
}

func (ix *Index) hashRef(h *apikey.Hash, ref uint32) {
	hh := *h
	if pos := ix.byHash.Find(hashOf(h), func(other uint32) bool { return ix.hashAt(other) == hh }); pos >= 0 {
		ix.byHash.Set(pos, ref)
		return
	}
	ix.byHash.Insert(hashOf(h), ref)
}

// unhashLocked removes record id's hashes, each only while it still finds
// this record, and its previous key. ix.mu is held.
func (ix *Index) unhashLocked(id uint32) {
	r := ix.records.at(id)
	refs := [2]uint32{id << 1, id<<1 | 1}
	n := 1
	if r.flags&recPrevious != 0 {
		n = 2
	}
	for _, ref := range refs[:n] {
		h := ix.hashAt(ref)
		if pos := ix.byHash.Find(hashOf(&h), func(other uint32) bool { return other == ref }); pos >= 0 {
			ix.byHash.Remove(pos)
		}
	}
	delete(ix.previous, id)
}

// removeLocked deletes the record at byName position pos. ix.mu is held.
func (ix *Index) removeLocked(pos int) {
	id := ix.byName.Ref(pos)
	ix.unhashLocked(id)
	ix.byName.Remove(pos)
	r := ix.records.at(id)
	ix.deadNames += int(r.nameLen)
	*r = record{}
	ix.free = append(ix.free, id)
	if ix.deadNames > 64<<10 && ix.deadNames > len(ix.names)/2 {
		ix.compactNamesLocked()
	}
}

// compactNamesLocked copies the live names to a new arena; Entries still
// holding names of the old one keep it alive until they are dropped. ix.mu is held.
func (ix *Index) compactNamesLocked() {
	names := make([]byte, 0, len(ix.names)-ix.deadNames)
	for id := range ix.records.n {
		r := ix.records.at(id)
		if r.flags&recUsed == 0 {
			continue
		}
		off := uint32(len(names)) //nolint:gosec // smaller than the arena it compacts
		names = append(names, ix.names[r.name:r.name+r.nameLen]...)
		r.name = off
	}
	ix.names, ix.deadNames = names, 0
}

// intern returns the id of s, adding a copy of it when new. ix.mu is held.
func (ix *Index) intern(s string) uint32 {
	if id, ok := ix.strIDs[s]; ok {
		return id
	}
	s = strings.Clone(s)
	id := uint32(len(ix.strs)) //nolint:gosec // fewer distinct values than keys
	ix.strs = append(ix.strs, s)
	ix.strIDs[s] = id
	return id
}

// internLimits returns the id of a list of rate limits equal to ls, and
// of what the answers of its keys need of it (newLimits). ix.mu is held.
func (ix *Index) internLimits(ls []Limit) uint32 {
	var buf [64]byte
	k := buf[:0]
	for _, l := range ls {
		k = binary.AppendVarint(k, l.Requests)
		k = binary.AppendVarint(k, int64(l.Per))
	}
	if id, ok := ix.limitIDs[string(k)]; ok {
		return id
	}
	id := uint32(len(ix.limits)) //nolint:gosec // fewer distinct values than keys
	ix.limits = append(ix.limits, newLimits(ls))
	ix.limitIDs[string(k)] = id
	return id
}

// internModels returns the id of a list of model patterns equal to ms. ix.mu is held.
func (ix *Index) internModels(ms []string) uint32 {
	var buf [256]byte
	k := buf[:0]
	for _, m := range ms {
		k = binary.AppendUvarint(k, uint64(len(m)))
		k = append(k, m...)
	}
	if id, ok := ix.modelIDs[string(k)]; ok {
		return id
	}
	list := make([]string, len(ms))
	for i, m := range ms {
		list[i] = strings.Clone(m)
	}
	id := uint32(len(ix.models)) //nolint:gosec // fewer distinct values than keys
	ix.models = append(ix.models, list)
	ix.modelIDs[string(k)] = id
	return id
}
