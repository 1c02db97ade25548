package webhook

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/authz"
	"github.com/tenantward/tenantward/internal/tenancy"
)

// Attempt is one admission request reduced to what the rules decide on. The
// rules below are pure functions of an Attempt and the objects involved.
type Attempt struct {
	Who       Requester
	Roles     Roles
	Where     Tenancy
	Operation admissionv1.Operation
	// Kind and Name name the object for messages.
	Kind string
	Name string
}

// actor is the requester's role where the request lands.
func (a Attempt) actor() authz.Key { return a.Roles.In(a.Where.Scope()) }

// roleText describes the requester's role for messages: "organization admin in acme".
func (a Attempt) roleText() string {
	k := a.actor()
	if !k.Valid() {
		return "no role in " + a.Where.String()
	}
	return k.String() + " in " + a.Where.String()
}

// forbid builds a Forbidden error naming the user, their role, what they tried,
// the rule, and the lowest role that would be allowed (when there is one).
func (a Attempt) forbid(path *field.Path, rule string, need authz.Key) *field.Error {
	msg := fmt.Sprintf("user %q (%s) may not %s %s %q: %s", a.Who.Name, a.roleText(), verbOf(a.Operation), a.Kind, a.Name, rule)
	if need.Valid() {
		msg += "; needs the " + need.String() + " role or higher"
	}
	return field.Forbidden(path, msg)
}

func verbOf(op admissionv1.Operation) string {
	switch op {
	case admissionv1.Create:
		return "create"
	case admissionv1.Delete:
		return "delete"
	}
	return "update"
}

// tableAction maps an admission operation to the matrix action it takes on
// resources whose rows use Create/Update/Delete.
func tableAction(op admissionv1.Operation, update authz.Action) authz.Action {
	switch op {
	case admissionv1.Create:
		return authz.Create
	case admissionv1.Delete:
		return authz.Delete
	}
	return update
}

// neededRole is the lowest-ranked role that may take action on feature in the
// scope, gate applied; invalid when none may.
func neededRole(f authz.Feature, action authz.Action, scope authz.Scope, gate authz.Gate) authz.Key {
	for _, k := range slices.Backward(authz.Keys) {
		if (k.Scope == scope || scope == authz.ScopeWorkspace) && authz.Allowed(k, f, action, gate) {
			return k
		}
	}
	return authz.Key{}
}

// requireTable checks the permission table: the requester's role must allow
// action on feature.
func (a Attempt) requireTable(path *field.Path, f authz.Feature, action authz.Action, gate authz.Gate, rule string) field.ErrorList {
	if authz.Allowed(a.actor(), f, action, gate) {
		return nil
	}
	return field.ErrorList{a.forbid(path, rule, neededRole(f, action, a.Where.Scope(), gate))}
}

var namespacePath = field.NewPath("metadata", "namespace")

// requireTenancy refuses objects outside an org or workspace namespace.
func (a Attempt) requireTenancy(where string) field.ErrorList {
	if a.Where.Scope() != "" {
		return nil
	}
	return field.ErrorList{field.Invalid(namespacePath, "", fmt.Sprintf(
		"%s belongs in %s; this namespace is not one tenantward made (labelled %s)", a.Kind, where, accessv1alpha1.LabelOrganization))}
}

// StaleRule refuses a tenant anything in a stale namespace (see
// StaleNamespaceError): whatever Memberships it holds were granted in an
// organization or workspace that no longer exists.
func StaleRule(a Attempt, reason error) *field.Error {
	return field.Forbidden(namespacePath, fmt.Sprintf("user %q may not %s %s %q: %v; tenants act only in the namespaces of a live "+
		"organization or workspace (the owner UID a namespace records must be the live object's), and only a platform identity "+
		"acts in a namespace left by a removed one", a.Who.Name, verbOf(a.Operation), a.Kind, a.Name, reason))
}

// MembershipChecks are what the Membership rule needs beyond the objects.
type MembershipChecks struct {
	// OtherOwners counts the owner Memberships of the organization, other than
	// the old object, that are not being deleted (for the last-owner rule).
	OtherOwners int
	// PlatformSubject says the new subject is a platform identity.
	PlatformSubject bool
}

// MembershipRule decides a Membership change. The last-owner refusal here
// answers the obvious case at once; under concurrency the guarantee is the
// access.tenantward.io/last-owner finalizer (controllers/membership_controller.go),
// which only the operator removes.
func MembershipRule(a Attempt, old, updated *accessv1alpha1.Membership, c MembershipChecks) field.ErrorList {
	if errs := a.requireTenancy("an organization namespace (org role) or a workspace namespace (workspace role)"); errs != nil {
		return errs
	}
	scope := a.Where.Scope()
	var errs field.ErrorList
	if updated != nil {
		errs = append(errs, validMembership(scope, updated)...)
		if c.PlatformSubject {
			errs = append(errs, field.Invalid(field.NewPath("spec", "subject"), SubjectKey(updated.Spec.Subject),
				"a Membership never names a platform identity (platformIdentities in the operator configuration, or the operator itself): those are outside tenancy"))
		}
	}
	if old != nil && old.Spec.Role == accessv1alpha1.RoleOwner && scope == authz.ScopeOrganization && c.OtherOwners == 0 &&
		(updated == nil || updated.Spec.Role != accessv1alpha1.RoleOwner || updated.Spec.Subject != old.Spec.Subject) {
		errs = append(errs, a.forbid(field.NewPath("spec", "role"), fmt.Sprintf(
			"it grants the last owner of organization %s, who can be neither removed nor demoted; add another owner first", a.Where.Organization), authz.Key{}))
	}
	if a.Who.Platform || len(errs) > 0 {
		return errs
	}
	if updated != nil && holdsLastOwner(old) != holdsLastOwner(updated) {
		return field.ErrorList{a.forbid(field.NewPath("metadata", "finalizers"), fmt.Sprintf(
			"the %s finalizer keeps an organization's last owner: only the operator adds it, and removes it once the organization has another owner",
			accessv1alpha1.LastOwnerFinalizer), authz.Key{})}
	}
	action := authz.AddUsers
	if a.Operation == admissionv1.Update {
		action = authz.AssignRoles
	}
	rolePath := field.NewPath("spec", "role")
	if errs := a.requireTable(rolePath, authz.Team, action, nil, "managing the team needs the Team right of the permission table"); errs != nil {
		return errs
	}
	actor := a.actor()
	if old != nil {
		if k := (authz.Key{Scope: scope, Role: old.Spec.Role}); !actor.AtLeast(k) {
			errs = append(errs, a.forbid(rolePath, fmt.Sprintf("nobody edits or removes a role above their own (this Membership grants %s)", k), k))
		}
	}
	if updated != nil && (old == nil || old.Spec.Role != updated.Spec.Role) {
		if k := (authz.Key{Scope: scope, Role: updated.Spec.Role}); !actor.AtLeast(k) {
			errs = append(errs, a.forbid(rolePath, fmt.Sprintf("nobody grants a role above their own (%s requested)", k), k))
		}
	}
	return errs
}

// holdsLastOwner reports whether m (nil on creation) carries the last-owner finalizer.
func holdsLastOwner(m *accessv1alpha1.Membership) bool {
	return m != nil && slices.Contains(m.Finalizers, accessv1alpha1.LastOwnerFinalizer)
}

// validMembership checks the role against the scope and the subject's name:
// a User or Group never names a system: identity (the CRD's CEL rule says the
// same before the webhook runs).
func validMembership(scope authz.Scope, m *accessv1alpha1.Membership) field.ErrorList {
	var errs field.ErrorList
	if _, err := authz.KeyFor(scope, m.Spec.Role); err != nil {
		errs = append(errs, field.Invalid(field.NewPath("spec", "role"), m.Spec.Role, err.Error()))
	}
	s, path := m.Spec.Subject, field.NewPath("spec", "subject", "name")
	switch {
	case s.Kind == accessv1alpha1.SubjectServiceAccount:
		for _, msg := range validation.IsDNS1123Subdomain(s.Name) {
			errs = append(errs, field.Invalid(path, s.Name, "a service account name: "+msg))
		}
	case strings.HasPrefix(s.Name, systemPrefix):
		errs = append(errs, field.Invalid(path, s.Name, fmt.Sprintf(
			"a %s subject never names a system: identity (system:authenticated, system:masters, system:serviceaccount:...): those belong to the cluster and the platform; a service account is a subject of kind ServiceAccount with its namespace", s.Kind)))
	}
	return errs
}

// OrganizationRule decides an Organization change: creation by platform
// identities, never in a reserved namespace; spec updates by owners and
// admins, billing and deletion by owners.
func OrganizationRule(a Attempt, old, updated *accessv1alpha1.Organization, reserved tenancy.Reserved) field.ErrorList {
	if a.Operation == admissionv1.Create {
		if err := reserved.Check(tenancy.OrgNamespace(updated)); err != nil {
			return field.ErrorList{a.forbid(field.NewPath("spec", "namespace"), err.Error(), authz.Key{})}
		}
	}
	if a.Who.Platform {
		return nil
	}
	switch a.Operation {
	case admissionv1.Create:
		return field.ErrorList{a.forbid(field.NewPath("metadata", "name"),
			"creating Organizations is reserved to platform identities, which bootstrap organizations and their first owners", authz.Key{})}
	case admissionv1.Delete:
		if a.actor() != authz.OrgOwner {
			return field.ErrorList{a.forbid(field.NewPath("metadata", "name"), "only owners delete an organization", authz.OrgOwner)}
		}
		return nil
	}
	errs := a.requireTable(field.NewPath("spec"), authz.Organisation, authz.Update, nil, "organization settings are changed by owners and admins")
	if errs == nil && !equality.Semantic.DeepEqual(old.Spec.Billing, updated.Spec.Billing) {
		errs = a.requireTable(field.NewPath("spec", "billing"), authz.Billing, authz.Manage, nil, "billing is managed by owners only")
	}
	return errs
}

// WorkspaceRule decides a Workspace change: it lives in its organization's
// namespace and names that organization; its namespace is never reserved and,
// unless a platform identity creates it, is the organization's own
// (<organization>--<suffix>); org owners and admins create, update and delete it.
func WorkspaceRule(a Attempt, updated *accessv1alpha1.Workspace, reserved tenancy.Reserved) field.ErrorList {
	if a.Where.Scope() != authz.ScopeOrganization {
		return field.ErrorList{field.Invalid(namespacePath, a.Where.WorkspaceNamespace, "a Workspace belongs in its organization's namespace")}
	}
	if updated != nil && updated.Spec.Organization != a.Where.Organization {
		return field.ErrorList{field.Invalid(field.NewPath("spec", "organization"), updated.Spec.Organization, fmt.Sprintf(
			"must be %s, the organization whose namespace holds the Workspace", a.Where.Organization))}
	}
	if a.Operation == admissionv1.Create {
		if errs := workspacePlacement(a, updated, reserved); errs != nil {
			return errs
		}
	}
	if a.Who.Platform {
		return nil
	}
	return a.requireTable(field.NewPath("spec"), authz.Workspaces, tableAction(a.Operation, authz.Update), nil,
		"workspaces are created, changed and deleted by organization owners and admins")
}

// ForegroundRule refuses deleting an Organization whose deletionPolicy is
// Refuse with propagationPolicy Foreground, for everyone: the garbage
// collector would delete the namespaces that name the Organization as their
// owner before the operator's finalizer could refuse.
func ForegroundRule(a Attempt, org *accessv1alpha1.Organization, policy *metav1.DeletionPropagation) field.ErrorList {
	if policy == nil || *policy != metav1.DeletePropagationForeground || org.Spec.DeletionPolicy == accessv1alpha1.DeletionCascade {
		return nil
	}
	return field.ErrorList{a.forbid(field.NewPath("spec", "deletionPolicy"),
		"with deletionPolicy Refuse an organization is not deleted in the foreground, which would delete its namespaces at once; "+
			"delete it in the background, or set spec.deletionPolicy to Cascade", authz.Key{})}
}

// workspacePlacement decides where a new Workspace's namespace may be (it is
// immutable): never a reserved namespace, which the webhooks may not see; for
// a tenant only <organization>--<suffix>, a name no other organization can
// ever get or choose. Only a platform identity places a workspace elsewhere.
func workspacePlacement(a Attempt, w *accessv1alpha1.Workspace, reserved tenancy.Reserved) field.ErrorList {
	path := field.NewPath("spec", "namespace")
	if err := reserved.Check(tenancy.WorkspaceNamespace(w)); err != nil {
		return field.ErrorList{a.forbid(path, err.Error(), authz.Key{})}
	}
	prefix := tenancy.WorkspaceNamespacePrefix(w.Spec.Organization)
	if a.Who.Platform || w.Spec.Namespace == "" || strings.HasPrefix(w.Spec.Namespace, prefix) {
		return nil
	}
	return field.ErrorList{a.forbid(path, fmt.Sprintf(
		"a workspace namespace a tenant chooses is %s<suffix>, one of the organization's own (or leave spec.namespace empty for %s%s); "+
			"only a platform identity may place a workspace elsewhere (%s requested)", prefix, prefix, w.Name, w.Spec.Namespace), authz.Key{})}
}

// FinalizerRule refuses a tenant's update that removes the operator's
// finalizer from an object: it holds the object until the operator has
// cleaned up what it made for it (namespaces, RBAC, API keys). Only the
// operator, a platform identity, removes it.
func FinalizerRule(a Attempt, old, updated []string) field.ErrorList {
	if a.Who.Platform || a.Operation != admissionv1.Update ||
		!slices.Contains(old, accessv1alpha1.Finalizer) || slices.Contains(updated, accessv1alpha1.Finalizer) {
		return nil
	}
	return field.ErrorList{a.forbid(field.NewPath("metadata", "finalizers"), fmt.Sprintf(
		"the finalizer %s is removed only by the operator, once it has cleaned up what it made for the object (namespaces, RBAC, API keys); "+
			"delete the object and let the operator finish", accessv1alpha1.Finalizer), authz.Key{})}
}

// Metadata is what MetadataRule and FinalizerRule read of an object.
type Metadata struct {
	Finalizers  []string          `json:"finalizers"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// operatorPrefix starts the labels and annotations the operator sets and
// reads (api/v1alpha1/common_types.go).
const operatorPrefix = "tenantward.io/"

// MetadataRule refuses a tenant's create or update that adds, changes or
// removes a label or annotation the operator owns: every tenantward.io/ key
// except the rotation request (tenantward.io/rotate, the tenant's), and
// app.kubernetes.io/managed-by=tenantward. They say which organization an
// object belongs to, which key is the master key, what the operator made;
// tools, audit records and selectors read them. Platform identities set them
// freely. old is empty on create.
func MetadataRule(a Attempt, old, updated Metadata) field.ErrorList {
	if a.Who.Platform || (a.Operation != admissionv1.Create && a.Operation != admissionv1.Update) {
		return nil
	}
	var errs field.ErrorList
	check := func(path *field.Path, what string, old, updated map[string]string) {
		keys := slices.Sorted(maps.Keys(updated))
		for k := range old {
			if _, ok := updated[k]; !ok {
				keys = append(keys, k)
			}
		}
		for _, k := range keys {
			o, inOld := old[k]
			u, inNew := updated[k]
			changed := strings.HasPrefix(k, operatorPrefix) && k != accessv1alpha1.AnnotationRotate && (inOld != inNew || o != u)
			if k == accessv1alpha1.LabelManagedBy {
				changed = (o == accessv1alpha1.ManagedByValue) != (u == accessv1alpha1.ManagedByValue)
			}
			if changed {
				errs = append(errs, a.forbid(path.Key(k), fmt.Sprintf("the %s %s is the operator's: a tenant never sets, changes or removes "+
					"%s* labels and annotations (but the %s annotation) nor %s=%s", what, k, operatorPrefix,
					accessv1alpha1.AnnotationRotate, accessv1alpha1.LabelManagedBy, accessv1alpha1.ManagedByValue), authz.Key{}))
			}
		}
	}
	check(field.NewPath("metadata", "labels"), "label", old.Labels, updated.Labels)
	check(field.NewPath("metadata", "annotations"), "annotation", old.Annotations, updated.Annotations)
	return errs
}

// KeyChecks are what the APIKey rule needs beyond the objects: the gate of the
// workspace's effective IntegrationPolicy (for the integrations ceiling) and
// the answer of the SubjectAccessReview for the rotate verb.
type KeyChecks struct {
	Gate         authz.Gate
	RotateAllows bool
}

// RotationRequested reports whether an update asks for a rotation: a new,
// non-empty value of the tenantward.io/rotate annotation.
func RotationRequested(old, updated *accessv1alpha1.APIKey) bool {
	if old == nil || updated == nil {
		return false
	}
	v := updated.Annotations[accessv1alpha1.AnnotationRotate]
	return v != "" && v != old.Annotations[accessv1alpha1.AnnotationRotate]
}

// APIKeyRule decides an APIKey change: admin keys (org namespace) by owners and
// admins, workspace keys by those who manage the workspace's keys, the rotate
// verb for rotation requests, and the ceiling: a key's permissions never
// exceed what its creator holds, and any update needs the key (before and
// after) within the requester's ceiling, unless it only reduces access
// (OnlyReducesAccess). Deletion (revocation) needs only the table's Delete.
func APIKeyRule(a Attempt, old, updated *accessv1alpha1.APIKey, c KeyChecks) field.ErrorList {
	if errs := a.requireTenancy("an organization namespace (admin key) or a workspace namespace (workspace key)"); errs != nil {
		return errs
	}
	if a.Who.Platform {
		return nil
	}
	rule := "workspace keys are managed by those who manage the workspace's API keys"
	if a.Where.Scope() == authz.ScopeOrganization {
		rule = "admin keys (in the organization namespace) are managed by organization owners and admins only"
	}
	rotation := RotationRequested(old, updated)
	specPath := field.NewPath("spec")
	if a.Operation != admissionv1.Update || !rotation || !equality.Semantic.DeepEqual(old.Spec, updated.Spec) {
		if errs := a.keyTable(old, updated, tableAction(a.Operation, authz.Edit), rule); errs != nil {
			return errs
		}
	}
	var errs field.ErrorList
	if rotation && !c.RotateAllows {
		errs = append(errs, a.forbid(field.NewPath("metadata", "annotations").Key(accessv1alpha1.AnnotationRotate),
			"requesting a rotation needs the "+authz.VerbRotate+" verb on apikeys", neededRole(authz.APIKeys, authz.Rotate, a.Where.Scope(), nil)))
	}
	permPath := specPath.Child("permissions")
	switch {
	case a.Operation == admissionv1.Create:
		errs = append(errs, a.ceiling(permPath, updated.Spec.Permissions, c.Gate, creatorCeiling, "requested")...)
	case a.Operation == admissionv1.Update && !OnlyReducesAccess(old, updated):
		above := a.ceiling(permPath, old.Spec.Permissions, c.Gate, changeCeiling, "is")
		if above == nil {
			above = a.ceiling(permPath, updated.Spec.Permissions, c.Gate, creatorCeiling, "requested")
		}
		errs = append(errs, above...)
	}
	return errs
}

// The ceiling rules, for messages.
const (
	creatorCeiling = "a key's permissions never exceed what its creator holds"
	changeCeiling  = "any change to a key needs the key within the requester's ceiling (above it, a key may only be disabled, given an earlier expiresAt, or deleted)"
)

// OnlyReducesAccess reports whether an update only takes access away from a
// key: no rotation is requested and nothing in its spec changes but state
// Enabled to Disabled, and expiresAt set where it was unset or moved earlier
// (labels and other annotations are free). Such an update (and deletion) is
// open to whoever may edit the namespace's keys, even for a key above their
// ceiling; any other change needs the key within it.
func OnlyReducesAccess(old, updated *accessv1alpha1.APIKey) bool {
	if old == nil || updated == nil || old.Annotations[accessv1alpha1.AnnotationRotate] != updated.Annotations[accessv1alpha1.AnnotationRotate] {
		return false
	}
	o, u := old.Spec, updated.Spec
	if u.State != o.State && u.State != accessv1alpha1.KeyDisabled {
		return false
	}
	if o.ExpiresAt != nil && (u.ExpiresAt == nil || u.ExpiresAt.After(o.ExpiresAt.Time)) {
		return false
	}
	u.State, u.ExpiresAt = o.State, o.ExpiresAt
	return equality.Semantic.DeepEqual(o, u)
}

// ceiling refuses permissions above what the requester's role holds; rule and
// verb word the message ("providers requested Delete", "providers is Delete").
func (a Attempt) ceiling(path *field.Path, p accessv1alpha1.APIKeyPermissions, gate authz.Gate, rule, verb string) field.ErrorList {
	return a.ceilingOf(a.actor(), "your role", path, p, gate, rule, verb)
}

// ceilingOf refuses permissions above the ceiling of role k, whose says whose
// role it is in the message.
func (a Attempt) ceilingOf(k authz.Key, whose string, path *field.Path, p accessv1alpha1.APIKeyPermissions, gate authz.Gate, rule, verb string) field.ErrorList {
	excess, err := authz.ExceedsCeiling(k, p, gate)
	if err != nil {
		return field.ErrorList{field.Invalid(path, p, err.Error())}
	}
	var errs field.ErrorList
	for _, e := range excess {
		errs = append(errs, a.forbid(path.Child(string(e.Feature)), fmt.Sprintf(
			"%s: %s %s %s, the most %s grants is %s",
			rule, e.Feature, verb, levelName(e.Feature, e.Requested), whose, levelName(e.Feature, e.Ceiling)), authz.Key{}))
	}
	return errs
}

func levelName(f authz.KeyFeature, l authz.Level) string {
	if f == authz.KeyMetrics || f == authz.KeyCompletions {
		return string(l.Toggle())
	}
	return l.String()
}

// StatusRule decides a write to the status subresource of any of
// tenantward's kinds: status (an Organization's namespace, a Workspace's
// integration access, a Membership's bound namespaces, an APIKey's hash) is
// what the operator observed, and the operator acts on it, so only platform
// identities write it, whatever RBAC a tenant holds.
func StatusRule(a Attempt) field.ErrorList {
	if a.Who.Platform {
		return nil
	}
	return field.ErrorList{a.forbid(field.NewPath("status"),
		a.Kind+" status (what the operator observed and acts on) is written only by the operator", authz.Key{})}
}

// IntegrationPolicyRule decides an IntegrationPolicy change: the org policy by
// owners and admins, a workspace override also by the workspace admin.
func IntegrationPolicyRule(a Attempt) field.ErrorList {
	if errs := a.requireTenancy("an organization namespace (org settings) or a workspace namespace (override)"); errs != nil || a.Who.Platform {
		return errs
	}
	rule := "the organization's integration access is set by its owners and admins"
	if a.Where.Scope() == authz.ScopeWorkspace {
		rule = "a workspace's integration access is overridden by organization owners and admins and the workspace admin"
	}
	return a.requireTable(field.NewPath("spec"), authz.IntegrationAccess, tableAction(a.Operation, authz.Update), nil, rule)
}

// GatedRule decides a write to a policy-gated gateway resource (integrations,
// MCP integrations, MCP servers): workspace managers only where the effective
// IntegrationPolicy allows it, owners and admins always. source says where the
// effective setting comes from, for the message.
func GatedRule(a Attempt, f authz.Feature, gate authz.Gate, source accessv1alpha1.SettingSource) field.ErrorList {
	if a.Where.Scope() == "" || a.Who.Platform {
		return nil
	}
	action := tableAction(a.Operation, authz.Edit)
	rule := fmt.Sprintf("the permission table gives this role no %s on %s", action, f)
	if a.actor() == authz.WSManager && authz.Gated(f) && gate != nil && !gate(f) {
		rule = fmt.Sprintf("workspace managers write %s only where the IntegrationPolicy allows it, and managersWrite is Denied here (set by %s)", f, source)
	}
	return a.requireTable(field.NewPath("spec"), f, action, gate, rule)
}
