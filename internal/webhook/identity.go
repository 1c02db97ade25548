// Package webhook holds tenantward's validating admission webhooks: who is
// asking (identity), which roles they hold where the request lands (membership
// indexes), the rules as pure functions, and the thin admission handlers that
// feed the rules and audit every decision.
package webhook

import (
	"slices"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/config"
	"github.com/tenantward/tenantward/internal/tenancy"
)

// serviceAccountPrefix starts the user name of every service account.
const serviceAccountPrefix = "system:serviceaccount:"

// Requester is who sent an admission request.
type Requester struct {
	// Name is the authenticated user name.
	Name string
	// Groups are the user's groups.
	Groups []string
	// Platform is true for platform identities, which bypass tenancy rules.
	Platform bool
}

// SubjectKeys are the Membership subjects that match the requester: the user,
// each group and, for a service account, the ServiceAccount subject.
func (r Requester) SubjectKeys() []string {
	keys := make([]string, 0, len(r.Groups)+2)
	keys = append(keys, SubjectKey(accessv1alpha1.Subject{Kind: accessv1alpha1.SubjectUser, Name: r.Name}))
	if ns, name, ok := serviceAccountOf(r.Name); ok {
		keys = append(keys, SubjectKey(accessv1alpha1.Subject{Kind: accessv1alpha1.SubjectServiceAccount, Namespace: ns, Name: name}))
	}
	for _, g := range r.Groups {
		keys = append(keys, SubjectKey(accessv1alpha1.Subject{Kind: accessv1alpha1.SubjectGroup, Name: g}))
	}
	return keys
}

// SubjectKey is the index key of a Membership subject: Kind:name, with
// namespace/name for a service account.
var SubjectKey = tenancy.SubjectKey

// serviceAccountOf splits system:serviceaccount:<namespace>:<name>.
func serviceAccountOf(user string) (ns, name string, ok bool) {
	rest, ok := strings.CutPrefix(user, serviceAccountPrefix)
	if !ok {
		return "", "", false
	}
	ns, name, ok = strings.Cut(rest, ":")
	if !ok || ns == "" || name == "" || strings.Contains(name, ":") {
		return "", "", false
	}
	return ns, name, true
}

// Platform decides which requesters are platform identities.
type Platform struct {
	users  map[string]bool
	groups map[string]bool
}

// systemPrefix starts every identity the cluster or the platform defines
// (system:masters, system:serviceaccount:…). Tenants' users and groups never
// carry it: the API server's OIDC authenticator refuses such names and
// Memberships may not name them.
const systemPrefix = "system:"

// NewPlatform builds the platform identities from the configuration, plus the
// operator's own identity (self). A user or group is trusted by name only when
// it is a system: identity: a bare name such as admin could be a tenant's, who
// would then bypass every rule. internal/config refuses such names; the
// operator's own identity, when it is one (a client certificate's user in local
// mode and tests), is simply not trusted by name: there it is platform through
// its system:masters group, in a cluster it is a service account.
func NewPlatform(p config.PlatformIdentities, self ...string) *Platform {
	out := &Platform{users: map[string]bool{}, groups: map[string]bool{}}
	for _, u := range slices.Concat(p.Users, self) {
		if strings.HasPrefix(u, systemPrefix) {
			out.users[u] = true
		}
	}
	for _, sa := range p.ServiceAccounts {
		if ns, name, ok := strings.Cut(sa, "/"); ok {
			out.users[serviceAccountPrefix+ns+":"+name] = true
		}
	}
	for _, g := range p.Groups {
		if strings.HasPrefix(g, systemPrefix) {
			out.groups[g] = true
		}
	}
	return out
}

// Names reports whether a Membership subject is a platform identity (a
// configured user, group or service account, or the operator itself).
func (p *Platform) Names(s accessv1alpha1.Subject) bool {
	switch s.Kind {
	case accessv1alpha1.SubjectServiceAccount:
		return p.users[serviceAccountPrefix+s.Namespace+":"+s.Name]
	case accessv1alpha1.SubjectGroup:
		return p.groups[s.Name]
	}
	return p.users[s.Name]
}

// Requester turns an AdmissionRequest's userInfo into a Requester.
func (p *Platform) Requester(u authenticationv1.UserInfo) Requester {
	r := Requester{Name: u.Username, Groups: u.Groups, Platform: p.users[u.Username]}
	for _, g := range u.Groups {
		r.Platform = r.Platform || p.groups[g]
	}
	return r
}
