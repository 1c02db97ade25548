package verifier

import (
	"errors"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/apikey"
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
// lifecycle, never the key.
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
	// RateLimits are the key's effective rate limits (status.rateLimits);
	// empty when it is unlimited.
	RateLimits []Limit
	// Models are the key's effective model patterns (status.models); empty
	// when it may call any model.
	Models []string

	current, previous apikey.Hash
	hasPrevious       bool
	// organizationUID is the UID recorded in the key's status; empty for a
	// key issued before the operator recorded it (then the name decides).
	organizationUID types.UID
}

// Limit is one rate-limit window of a key: at most Requests calls per Per.
type Limit struct {
	Requests int64
	Per      time.Duration
}

// ref is an index slot: the entry a hash belongs to, and for a previous key
// the end of its grace period (unix nanoseconds; 0 for a current key).
type ref struct {
	entry *Entry
	until int64
}

// Index maps key hashes to APIKeys, and knows the live Organizations: a key
// whose organization does not exist or is being deleted is NOT_FOUND. It is
// safe for concurrent use; Verify takes a read lock and does not allocate.
type Index struct {
	mu     sync.RWMutex
	byHash map[apikey.Hash]ref
	byName map[objectName]*Entry
	// strings interns the strings many entries share (namespace,
	// organization, workspace, type, organization UID), so that each is held
	// once rather than once per key as decoded. It is reset by Replace.
	strings map[string]string
	// orgs are the UIDs of the Organizations that exist and are not being
	// deleted, by name.
	orgs map[string]types.UID
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{byHash: map[apikey.Hash]ref{}, byName: map[objectName]*Entry{}, strings: map[string]string{}, orgs: map[string]types.UID{}}
}

// objectName is an APIKey's namespace and name (no concatenation to allocate).
type objectName struct{ namespace, name string }

// errOrgGone is the reason of a NOT_FOUND for a key whose organization is gone.
var errOrgGone = errors.New("the key's organization does not exist or is being deleted (or was replaced by another of the same name)")

// Result is the outcome of Verify. Entry is set for every code except
// NotFound and Malformed.
type Result struct {
	Code  Code
	Entry *Entry
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
	ix.mu.RLock()
	r, ok := ix.byHash[h]
	live := ok && ix.liveLocked(r.entry)
	ix.mu.RUnlock()
	if !ok || (r.until != 0 && now.UnixNano() >= r.until) {
		return Result{Code: NotFound}
	}
	if !live {
		return Result{Code: NotFound, Reason: errOrgGone}
	}
	e := r.entry
	switch {
	case e.Disabled:
		return Result{Code: Disabled, Entry: e}
	case !e.ExpiresAt.IsZero() && !now.Before(e.ExpiresAt):
		return Result{Code: Expired, Entry: e}
	case !e.Permissions.satisfies(needs):
		return Result{Code: InsufficientPermissions, Entry: e}
	}
	return Result{Code: Valid, Entry: e}
}

// liveLocked reports whether e's organization is live and, when the key
// recorded its organization's UID, is that same Organization.
func (ix *Index) liveLocked(e *Entry) bool {
	uid, ok := ix.orgs[e.Organization]
	return ok && (e.organizationUID == "" || e.organizationUID == uid)
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
	return len(ix.byName)
}

// Set adds or replaces the APIKey k. A key with no hash in status (not issued
// yet) is removed, and an invalid hash (which the CRD's pattern rules out)
// likewise, so that nothing unverifiable stays in the index.
func (ix *Index) Set(k *accessv1alpha1.APIKey) {
	e, ok := entryOf(k)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	name := objectName{ix.intern(k.Namespace), k.Name}
	ix.removeLocked(name)
	if !ok {
		return
	}
	e.Namespace, e.Organization, e.Workspace = name.namespace, ix.intern(e.Organization), ix.intern(e.Workspace)
	e.Type, e.organizationUID = accessv1alpha1.KeyType(ix.intern(string(e.Type))), types.UID(ix.intern(string(e.organizationUID)))
	ix.byName[name] = e
	ix.byHash[e.current] = ref{entry: e}
	if e.hasPrevious {
		ix.byHash[e.previous] = ref{entry: e, until: k.Status.PreviousValidUntil.UnixNano()}
	}
}

// intern returns the index's copy of s, adding it when new. ix.mu is held.
func (ix *Index) intern(s string) string {
	if in, ok := ix.strings[s]; ok {
		return in
	}
	ix.strings[s] = s
	return s
}

// Delete removes the APIKey namespace/name.
func (ix *Index) Delete(namespace, name string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.removeLocked(objectName{namespace, name})
}

// Replace swaps the whole content of the index for keys (a full list).
func (ix *Index) Replace(keys []*accessv1alpha1.APIKey) {
	fresh := &Index{byHash: make(map[apikey.Hash]ref, len(keys)), byName: make(map[objectName]*Entry, len(keys)), strings: map[string]string{}}
	for _, k := range keys {
		fresh.Set(k)
	}
	ix.mu.Lock()
	ix.byHash, ix.byName, ix.strings = fresh.byHash, fresh.byName, fresh.strings
	ix.mu.Unlock()
}

func (ix *Index) removeLocked(name objectName) {
	old, ok := ix.byName[name]
	if !ok {
		return
	}
	delete(ix.byName, name)
	// A hash is only removed while it still points at this entry.
	if r := ix.byHash[old.current]; r.entry == old {
		delete(ix.byHash, old.current)
	}
	if old.hasPrevious {
		if r := ix.byHash[old.previous]; r.entry == old {
			delete(ix.byHash, old.previous)
		}
	}
}

func entryOf(k *accessv1alpha1.APIKey) (*Entry, bool) {
	current, err := apikey.ParseHash(k.Status.Hash)
	if err != nil {
		return nil, false
	}
	e := &Entry{
		Namespace:    k.Namespace,
		Name:         k.Name,
		Organization: k.Status.Organization,
		Workspace:    k.Status.Workspace,
		Type:         k.Status.Type,
		Permissions:  PermissionsOf(&k.Spec.Permissions),
		Disabled:     k.Spec.State == accessv1alpha1.KeyDisabled,
		current:      current,

		organizationUID: types.UID(k.Status.OrganizationUID),
	}
	if k.Spec.ExpiresAt != nil {
		e.ExpiresAt = k.Spec.ExpiresAt.Time
	}
	for _, l := range k.Status.RateLimits {
		e.RateLimits = append(e.RateLimits, Limit{Requests: l.Requests, Per: l.Per.Duration})
	}
	for _, m := range k.Status.Models {
		e.Models = append(e.Models, string(m))
	}
	if k.Status.PreviousHash != "" && k.Status.PreviousValidUntil != nil {
		if prev, err := apikey.ParseHash(k.Status.PreviousHash); err == nil && prev != current {
			e.previous, e.hasPrevious = prev, true
		}
	}
	return e, true
}
