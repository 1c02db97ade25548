package webhook

import (
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	v1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/authz"
	"github.com/tenantward/tenantward/internal/config"
	"github.com/tenantward/tenantward/internal/integrationpolicy"
	"github.com/tenantward/tenantward/internal/tenancy"
)

// reserved are the namespaces of an operator in tenantward-system whose chart
// excludes argocd from the webhooks.
var reserved = tenancy.NewReserved("tenantward-system", []string{"argocd"})

var (
	orgNS = Tenancy{Organization: "acme", OrgNamespace: "org-acme"}
	wsNS  = Tenancy{Organization: "acme", OrgNamespace: "org-acme", Workspace: "team-a", WorkspaceNamespace: "acme-team-a"}
)

func attempt(op admissionv1.Operation, where Tenancy, roles Roles) Attempt {
	return Attempt{Who: Requester{Name: "alice"}, Roles: roles, Where: where, Operation: op, Kind: "Membership", Name: "m"}
}

func orgRole(r v1.Role) Roles { return Roles{Org: authz.Key{Scope: authz.ScopeOrganization, Role: r}} }
func wsRole(r v1.Role) Roles {
	return Roles{Workspace: authz.Key{Scope: authz.ScopeWorkspace, Role: r}}
}

func member(ns string, role v1.Role, user string) *v1.Membership {
	return &v1.Membership{ObjectMeta: metav1.ObjectMeta{Name: user, Namespace: ns},
		Spec: v1.MembershipSpec{Subject: v1.Subject{Kind: v1.SubjectUser, Name: user}, Role: role}}
}

// expect checks allowed (want == "") or a denial whose messages contain every
// comma-free fragment of want separated by "|".
func expect(t *testing.T, name string, errs field.ErrorList, want string) {
	t.Helper()
	if want == "" {
		if len(errs) > 0 {
			t.Errorf("%s: denied, want allowed: %v", name, errs)
		}
		return
	}
	if len(errs) == 0 {
		t.Errorf("%s: allowed, want denied with %q", name, want)
		return
	}
	msg := errs.ToAggregate().Error()
	for _, frag := range strings.Split(want, "|") {
		if !strings.Contains(msg, frag) {
			t.Errorf("%s: message %q lacks %q", name, msg, frag)
		}
	}
}

func TestMembershipRule(t *testing.T) {
	create, update, del := admissionv1.Create, admissionv1.Update, admissionv1.Delete
	tests := []struct {
		name        string
		a           Attempt
		old, new    *v1.Membership
		otherOwners int
		want        string
	}{
		{"owner grants owner", attempt(create, orgNS, orgRole(v1.RoleOwner)), nil, member("org-acme", v1.RoleOwner, "bob"), 0, ""},
		{"admin grants admin", attempt(create, orgNS, orgRole(v1.RoleAdmin)), nil, member("org-acme", v1.RoleAdmin, "bob"), 0, ""},
		{"admin grants owner", attempt(create, orgNS, orgRole(v1.RoleAdmin)), nil, member("org-acme", v1.RoleOwner, "bob"),
			0, `user "alice"|organization admin in acme|nobody grants a role above their own|needs the organization owner role`},
		{"member grants admin", attempt(create, orgNS, orgRole(v1.RoleMember)), nil, member("org-acme", v1.RoleAdmin, "bob"),
			0, "organization member in acme|Team right|needs the organization admin role"},
		{"admin demotes owner", attempt(update, orgNS, orgRole(v1.RoleAdmin)), member("org-acme", v1.RoleOwner, "bob"), member("org-acme", v1.RoleMember, "bob"),
			1, "nobody edits or removes a role above their own"},
		{"last owner leaves", attempt(del, orgNS, orgRole(v1.RoleOwner)), member("org-acme", v1.RoleOwner, "alice"), nil,
			0, "last owner of organization acme"},
		{"last owner demoted", attempt(update, orgNS, orgRole(v1.RoleOwner)), member("org-acme", v1.RoleOwner, "alice"), member("org-acme", v1.RoleAdmin, "alice"),
			0, "last owner"},
		{"one of two owners leaves", attempt(del, orgNS, orgRole(v1.RoleOwner)), member("org-acme", v1.RoleOwner, "alice"), nil, 1, ""},
		{"manager adds manager", attempt(create, wsNS, wsRole(v1.RoleManager)), nil, member("acme-team-a", v1.RoleManager, "bob"), 0, ""},
		{"manager adds workspace admin", attempt(create, wsNS, wsRole(v1.RoleManager)), nil, member("acme-team-a", v1.RoleAdmin, "bob"),
			0, "workspace manager in acme/team-a|needs the workspace admin role"},
		{"workspace admin adds org member", attempt(create, orgNS, wsRole(v1.RoleAdmin)), nil, member("org-acme", v1.RoleMember, "bob"),
			0, "no role in acme"},
		{"org admin manages a workspace", attempt(create, wsNS, orgRole(v1.RoleAdmin)), nil, member("acme-team-a", v1.RoleAdmin, "bob"), 0, ""},
		{"owner in a workspace", attempt(create, wsNS, orgRole(v1.RoleOwner)), nil, member("acme-team-a", v1.RoleOwner, "bob"),
			0, "not a workspace role"},
		{"manager in the org namespace", attempt(create, orgNS, orgRole(v1.RoleOwner)), nil, member("org-acme", v1.RoleManager, "bob"),
			0, "not an organization role"},
		{"outside tenancy", attempt(create, Tenancy{}, Roles{}), nil, member("default", v1.RoleMember, "bob"), 0, "not one tenantward made"},
	}
	sa := member("org-acme", v1.RoleMember, "system:serviceaccount:ci:deployer")
	tests = append(tests, struct {
		name        string
		a           Attempt
		old, new    *v1.Membership
		otherOwners int
		want        string
	}{"service account as a User", attempt(create, orgNS, orgRole(v1.RoleOwner)), nil, sa, 0, "never names a system: identity|subject of kind ServiceAccount"})
	for _, tt := range tests {
		expect(t, tt.name, MembershipRule(tt.a, tt.old, tt.new, MembershipChecks{OtherOwners: tt.otherOwners}), tt.want)
	}
	platform := attempt(del, orgNS, Roles{})
	platform.Who.Platform = true
	expect(t, "platform removes the last owner", MembershipRule(platform, member("org-acme", v1.RoleOwner, "alice"), nil, MembershipChecks{}), "last owner")
	platformCreate := platform
	platformCreate.Operation = create
	expect(t, "platform grants owner", MembershipRule(platformCreate, nil, member("org-acme", v1.RoleOwner, "bob"), MembershipChecks{}), "")
}

// TestMembershipSubjectsAreTenants: no Membership names a system: identity or
// a platform identity, whoever asks.
func TestMembershipSubjectsAreTenants(t *testing.T) {
	owner := attempt(admissionv1.Create, orgNS, orgRole(v1.RoleOwner))
	group := member("org-acme", v1.RoleAdmin, "")
	group.Spec.Subject = v1.Subject{Kind: v1.SubjectGroup, Name: "system:authenticated"}
	expect(t, "group system:authenticated", MembershipRule(owner, nil, group, MembershipChecks{}), "Group subject never names a system: identity")
	expect(t, "user system:admin", MembershipRule(owner, nil, member("org-acme", v1.RoleAdmin, "system:admin"), MembershipChecks{}),
		"User subject never names a system: identity")
	operator := member("org-acme", v1.RoleAdmin, "")
	operator.Spec.Subject = v1.Subject{Kind: v1.SubjectServiceAccount, Namespace: "tenantward-system", Name: "tenantward"}
	p := NewPlatform(configIdentities(), "system:serviceaccount:tenantward-system:tenantward")
	platform := owner
	platform.Who.Platform = true
	expect(t, "the operator's service account, by the platform", MembershipRule(platform, nil, operator, MembershipChecks{PlatformSubject: p.Names(operator.Spec.Subject)}),
		"spec.subject|never names a platform identity")
	applier := operator.DeepCopy()
	applier.Spec.Subject = v1.Subject{Kind: v1.SubjectServiceAccount, Namespace: "argocd", Name: "applier"}
	if !p.Names(applier.Spec.Subject) {
		t.Error("a configured service account is a platform subject")
	}
	tenantSA := operator.DeepCopy()
	tenantSA.Spec.Subject = v1.Subject{Kind: v1.SubjectServiceAccount, Namespace: "ci", Name: "deployer"}
	expect(t, "a tenant's service account", MembershipRule(owner, nil, tenantSA, MembershipChecks{PlatformSubject: p.Names(tenantSA.Spec.Subject)}), "")
}

// TestLastOwnerFinalizerIsTheOperators: tenants neither strip nor add the
// last-owner finalizer; the operator does both.
func TestLastOwnerFinalizerIsTheOperators(t *testing.T) {
	held := member("org-acme", v1.RoleOwner, "bob")
	held.Finalizers = []string{v1.LastOwnerFinalizer}
	stripped := held.DeepCopy()
	stripped.Finalizers = nil
	owner := attempt(admissionv1.Update, orgNS, orgRole(v1.RoleOwner))
	expect(t, "owner strips the finalizer", MembershipRule(owner, held, stripped, MembershipChecks{OtherOwners: 1}),
		"metadata.finalizers|only the operator adds it")
	expect(t, "owner adds the finalizer", MembershipRule(owner, stripped, held, MembershipChecks{OtherOwners: 1}), "only the operator adds it")
	operator := owner
	operator.Who.Platform = true
	expect(t, "the operator strips it", MembershipRule(operator, held, stripped, MembershipChecks{OtherOwners: 1}), "")
}

func TestOrganizationRule(t *testing.T) {
	org := func(budget int64) *v1.Organization {
		return &v1.Organization{ObjectMeta: metav1.ObjectMeta{Name: "acme"},
			Spec: v1.OrganizationSpec{DisplayName: "Acme", Billing: &v1.Billing{MonthlyBudgetUSD: budget}}}
	}
	renamed := org(10)
	renamed.Spec.DisplayName = "Acme Inc"
	expect(t, "admin renames", OrganizationRule(attempt(admissionv1.Update, orgNS, orgRole(v1.RoleAdmin)), org(10), renamed, reserved), "")
	expect(t, "admin changes billing", OrganizationRule(attempt(admissionv1.Update, orgNS, orgRole(v1.RoleAdmin)), org(10), org(20), reserved),
		"organization admin in acme|billing is managed by owners only|needs the organization owner role")
	expect(t, "owner changes billing", OrganizationRule(attempt(admissionv1.Update, orgNS, orgRole(v1.RoleOwner)), org(10), org(20), reserved), "")
	expect(t, "member renames", OrganizationRule(attempt(admissionv1.Update, orgNS, orgRole(v1.RoleMember)), org(10), renamed, reserved), "needs the organization admin role")
	expect(t, "admin deletes", OrganizationRule(attempt(admissionv1.Delete, orgNS, orgRole(v1.RoleAdmin)), org(10), nil, reserved), "only owners delete")
	expect(t, "owner deletes", OrganizationRule(attempt(admissionv1.Delete, orgNS, orgRole(v1.RoleOwner)), org(10), nil, reserved), "")
	expect(t, "tenant creates", OrganizationRule(attempt(admissionv1.Create, orgNS, orgRole(v1.RoleOwner)), nil, org(0), reserved), "reserved to platform identities")

	platform := attempt(admissionv1.Create, orgNS, Roles{})
	platform.Who.Platform = true
	expect(t, "platform creates", OrganizationRule(platform, nil, org(0), reserved), "")
	for _, ns := range []string{"tenantward-system", "kube-public", "kube-anything", "default", "argocd"} {
		o := org(0)
		o.Spec.Namespace = ns
		expect(t, "platform creates in "+ns, OrganizationRule(platform, nil, o, reserved), "spec.namespace|namespace "+ns+" is reserved")
	}
}

func TestWorkspaceRule(t *testing.T) {
	ws := &v1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: "team-b", Namespace: "org-acme"}, Spec: v1.WorkspaceSpec{Organization: "acme"}}
	expect(t, "admin creates", WorkspaceRule(attempt(admissionv1.Create, orgNS, orgRole(v1.RoleAdmin)), ws, reserved), "")
	expect(t, "member creates", WorkspaceRule(attempt(admissionv1.Create, orgNS, orgRole(v1.RoleMember)), ws, reserved), "organization member in acme|needs the organization admin role")
	other := ws.DeepCopy()
	other.Spec.Organization = "globex"
	expect(t, "wrong organization", WorkspaceRule(attempt(admissionv1.Create, orgNS, orgRole(v1.RoleOwner)), other, reserved), "must be acme")
	expect(t, "in a workspace namespace", WorkspaceRule(attempt(admissionv1.Create, wsNS, orgRole(v1.RoleOwner)), ws, reserved), "belongs in its organization's namespace")

	platform := attempt(admissionv1.Create, orgNS, Roles{})
	platform.Who.Platform = true
	placed := func(ns string) *v1.Workspace {
		w := ws.DeepCopy()
		w.Spec.Namespace = ns
		return w
	}
	admin := attempt(admissionv1.Create, orgNS, orgRole(v1.RoleAdmin))
	for _, ns := range []string{"tenantward-system", "kube-system", "kube-public", "kube-node-lease", "kube-x", "default", "argocd"} {
		expect(t, "admin places at "+ns, WorkspaceRule(admin, placed(ns), reserved), "spec.namespace|namespace "+ns+" is reserved")
		expect(t, "platform places at "+ns, WorkspaceRule(platform, placed(ns), reserved), "namespace "+ns+" is reserved")
	}
	for _, ns := range []string{"monitoring", "org-globex", "globex--x", "acme-custom"} {
		expect(t, "admin places at "+ns, WorkspaceRule(admin, placed(ns), reserved),
			`user "alice" (organization admin in acme)|spec.namespace|a workspace namespace a tenant chooses is acme--<suffix>|only a platform identity may place a workspace elsewhere|`+ns+" requested")
	}
	expect(t, "admin places at acme--custom", WorkspaceRule(admin, placed("acme--custom"), reserved), "")
	expect(t, "platform places at monitoring", WorkspaceRule(platform, placed("monitoring"), reserved), "")
	update := attempt(admissionv1.Update, orgNS, Roles{})
	update.Who.Platform = true
	expect(t, "the operator updates a workspace placed before the namespace was reserved", WorkspaceRule(update, placed("argocd"), reserved), "")
}

func TestFinalizerRule(t *testing.T) {
	ours := []string{"example.com/other", v1.Finalizer}
	owner := attempt(admissionv1.Update, orgNS, orgRole(v1.RoleOwner))
	expect(t, "owner strips the finalizer", FinalizerRule(owner, ours, []string{"example.com/other"}),
		`user "alice" (organization owner in acme)|metadata.finalizers|`+v1.Finalizer+" is removed only by the operator")
	expect(t, "owner keeps the finalizer", FinalizerRule(owner, ours, []string{v1.Finalizer}), "")
	expect(t, "owner strips another finalizer", FinalizerRule(owner, []string{"example.com/other"}, nil), "")
	operator := owner
	operator.Who.Platform = true
	expect(t, "the operator removes its finalizer", FinalizerRule(operator, ours, nil), "")
}

func TestMetadataRule(t *testing.T) {
	owner := attempt(admissionv1.Update, orgNS, orgRole(v1.RoleOwner))
	labels := func(kv ...string) Metadata {
		m := Metadata{Labels: map[string]string{}}
		for i := 0; i < len(kv); i += 2 {
			m.Labels[kv[i]] = kv[i+1]
		}
		return m
	}
	master := labels(v1.LabelOrganization, "acme", v1.LabelMasterKey, "true", v1.LabelManagedBy, v1.ManagedByValue)
	rule := "is the operator's: a tenant never sets, changes or removes tenantward.io/* labels and annotations"
	expect(t, "owner keeps the operator's labels", MetadataRule(owner, master, labels(v1.LabelOrganization, "acme", v1.LabelMasterKey, "true",
		v1.LabelManagedBy, v1.ManagedByValue, "team", "blue")), "")
	expect(t, "owner drops the master-key label", MetadataRule(owner, master, labels(v1.LabelOrganization, "acme", v1.LabelManagedBy, v1.ManagedByValue)),
		`user "alice" (organization owner in acme)|metadata.labels[tenantward.io/master-key]|`+rule)
	expect(t, "owner renames the organization label", MetadataRule(owner, labels(v1.LabelOrganization, "acme"), labels(v1.LabelOrganization, "victim")),
		"metadata.labels[tenantward.io/organization]|"+rule)
	expect(t, "owner hands the object to Helm", MetadataRule(owner, master, labels(v1.LabelOrganization, "acme", v1.LabelMasterKey, "true", v1.LabelManagedBy, "Helm")),
		"metadata.labels[app.kubernetes.io/managed-by]|"+rule)
	expect(t, "owner moves his own object from Helm to Argo CD", MetadataRule(owner, labels(v1.LabelManagedBy, "Helm"), labels(v1.LabelManagedBy, "argocd")), "")
	create := attempt(admissionv1.Create, orgNS, orgRole(v1.RoleOwner))
	expect(t, "owner creates with an owner-uid annotation", MetadataRule(create, Metadata{},
		Metadata{Annotations: map[string]string{v1.AnnotationOwnerUID: "u"}}), "metadata.annotations[tenantward.io/owner-uid]|"+rule)
	expect(t, "owner requests a rotation", MetadataRule(owner, Metadata{}, Metadata{Annotations: map[string]string{v1.AnnotationRotate: "1"}}), "")
	operator := owner
	operator.Who.Platform = true
	expect(t, "the operator sets its labels", MetadataRule(operator, Metadata{}, master), "")
}

func TestAPIKeyRule(t *testing.T) {
	key := func(ns string, p v1.APIKeyPermissions) *v1.APIKey {
		return &v1.APIKey{ObjectMeta: metav1.ObjectMeta{Name: "k", Namespace: ns}, Spec: v1.APIKeySpec{Permissions: p}}
	}
	read := v1.APIKeyPermissions{Prompts: v1.AccessRead, Completions: v1.ToggleEnabled}
	all := authz.MaxPermissions()
	expect(t, "admin creates admin key", APIKeyRule(attempt(admissionv1.Create, orgNS, orgRole(v1.RoleAdmin)), nil, key("org-acme", all), KeyChecks{}), "")
	expect(t, "member creates admin key", APIKeyRule(attempt(admissionv1.Create, orgNS, orgRole(v1.RoleMember)), nil, key("org-acme", read), KeyChecks{}),
		"admin keys (in the organization namespace) are managed by organization owners and admins only|needs the organization admin role")
	expect(t, "workspace admin creates admin key", APIKeyRule(attempt(admissionv1.Create, orgNS, wsRole(v1.RoleAdmin)), nil, key("org-acme", read), KeyChecks{}), "no role in acme")
	expect(t, "manager creates read key", APIKeyRule(attempt(admissionv1.Create, wsNS, wsRole(v1.RoleManager)), nil, key("acme-team-a", read), KeyChecks{}), "")
	over := read
	over.Providers = v1.AccessWrite
	expect(t, "manager exceeds ceiling", APIKeyRule(attempt(admissionv1.Create, wsNS, wsRole(v1.RoleManager)), nil, key("acme-team-a", over), KeyChecks{}),
		"never exceed what its creator holds: providers requested Write, the most your role grants is Read")
	integ := read
	integ.Integrations = v1.AccessWrite
	closed := integrationpolicy.Gate([]v1.EffectiveIntegrationAccess{{Type: v1.IntegrationAI, ManagersWrite: v1.Denied}})
	expect(t, "manager integrations key, policy open", APIKeyRule(attempt(admissionv1.Create, wsNS, wsRole(v1.RoleManager)), nil, key("acme-team-a", integ), KeyChecks{}), "")
	expect(t, "manager integrations key, policy closed", APIKeyRule(attempt(admissionv1.Create, wsNS, wsRole(v1.RoleManager)), nil, key("acme-team-a", integ), KeyChecks{Gate: closed}),
		"integrations requested Write")

	old := key("acme-team-a", read)
	rotated := old.DeepCopy()
	rotated.Annotations = map[string]string{v1.AnnotationRotate: "1"}
	a := attempt(admissionv1.Update, wsNS, wsRole(v1.RoleManager))
	expect(t, "rotate without the verb", APIKeyRule(a, old, rotated, KeyChecks{}), "needs the rotate verb")
	expect(t, "rotate with the verb", APIKeyRule(a, old, rotated, KeyChecks{RotateAllows: true}), "")
	expect(t, "status by a tenant", StatusRule(attempt(admissionv1.Update, wsNS, orgRole(v1.RoleOwner))), "written only by the operator")
}

// TestAPIKeyChangesNeedTheKeyWithinTheCeiling: a manager may disable an
// admin-made key above his ceiling, or shorten its life, or delete it, but not
// re-enable it, lengthen or clear its expiry, rotate it or change anything else.
func TestAPIKeyChangesNeedTheKeyWithinTheCeiling(t *testing.T) {
	soon, later := metav1.NewTime(time.Unix(2_000_000_000, 0)), metav1.NewTime(time.Unix(2_100_000_000, 0))
	above := &v1.APIKey{ObjectMeta: metav1.ObjectMeta{Name: "k", Namespace: "acme-team-a"}, Spec: v1.APIKeySpec{
		Permissions: v1.APIKeyPermissions{Completions: v1.ToggleEnabled, Providers: v1.AccessDelete}, State: v1.KeyDisabled, ExpiresAt: &soon}}
	change := func(f func(k *v1.APIKey)) *v1.APIKey { k := above.DeepCopy(); f(k); return k }
	manager := attempt(admissionv1.Update, wsNS, wsRole(v1.RoleManager))
	refused := "any change to a key needs the key within the requester's ceiling|providers is Delete|the most your role grants is Read"
	for name, updated := range map[string]*v1.APIKey{
		"re-enable":         change(func(k *v1.APIKey) { k.Spec.State = v1.KeyEnabled }),
		"clear expiresAt":   change(func(k *v1.APIKey) { k.Spec.ExpiresAt = nil }),
		"later expiresAt":   change(func(k *v1.APIKey) { k.Spec.ExpiresAt = &later }),
		"edit description":  change(func(k *v1.APIKey) { k.Spec.Description = "mine now" }),
		"request rotation":  change(func(k *v1.APIKey) { k.Annotations = map[string]string{v1.AnnotationRotate: "1"} }),
		"lower permissions": change(func(k *v1.APIKey) { k.Spec.Permissions.Providers = v1.AccessWrite }),
	} {
		expect(t, "manager: "+name, APIKeyRule(manager, above, updated, KeyChecks{RotateAllows: true}), refused)
	}
	enabled := change(func(k *v1.APIKey) { k.Spec.State, k.Spec.ExpiresAt = v1.KeyEnabled, &later })
	for name, updated := range map[string]*v1.APIKey{
		"disable":        change(func(k *v1.APIKey) { k.Spec.ExpiresAt = &later; k.Spec.State = v1.KeyDisabled }),
		"earlier expiry": change(func(k *v1.APIKey) { k.Spec.State = v1.KeyEnabled; k.Spec.ExpiresAt = &soon }),
		"label it": change(func(k *v1.APIKey) {
			k.Spec.State, k.Spec.ExpiresAt = v1.KeyEnabled, &later
			k.Labels = map[string]string{"team": "a"}
		}),
		"disable, expires": change(func(k *v1.APIKey) { k.Spec.ExpiresAt = &soon }),
	} {
		expect(t, "manager: "+name, APIKeyRule(manager, enabled, updated, KeyChecks{}), "")
	}
	expect(t, "manager deletes it", APIKeyRule(attempt(admissionv1.Delete, wsNS, wsRole(v1.RoleManager)), above, nil, KeyChecks{}), "")
	reEnabled := change(func(k *v1.APIKey) { k.Spec.State, k.Spec.ExpiresAt = v1.KeyEnabled, nil })
	expect(t, "org owner re-enables it", APIKeyRule(attempt(admissionv1.Update, wsNS, orgRole(v1.RoleOwner)), above, reEnabled, KeyChecks{}), "")
}

func TestIntegrationPolicyAndGatedRules(t *testing.T) {
	expect(t, "admin sets org policy", IntegrationPolicyRule(attempt(admissionv1.Update, orgNS, orgRole(v1.RoleAdmin))), "")
	expect(t, "workspace admin sets org policy", IntegrationPolicyRule(attempt(admissionv1.Update, orgNS, wsRole(v1.RoleAdmin))), "set by its owners and admins")
	expect(t, "workspace admin overrides", IntegrationPolicyRule(attempt(admissionv1.Create, wsNS, wsRole(v1.RoleAdmin))), "")
	expect(t, "manager overrides", IntegrationPolicyRule(attempt(admissionv1.Create, wsNS, wsRole(v1.RoleManager))), "workspace manager in acme/team-a|needs the workspace admin role")

	closed := func(authz.Feature) bool { return false }
	mgr := attempt(admissionv1.Create, wsNS, wsRole(v1.RoleManager))
	expect(t, "manager, policy open", GatedRule(mgr, authz.MCPServers, nil, v1.SourceDefault), "")
	expect(t, "manager, policy closed", GatedRule(mgr, authz.MCPServers, closed, v1.SourceWorkspace),
		"workspace manager in acme/team-a|only where the IntegrationPolicy allows it|set by Workspace|needs the workspace admin role")
	expect(t, "org admin, policy closed", GatedRule(attempt(admissionv1.Delete, wsNS, orgRole(v1.RoleAdmin)), authz.MCPServers, closed, v1.SourceOrganization), "")
	expect(t, "member", GatedRule(attempt(admissionv1.Create, wsNS, wsRole(v1.RoleMember)), authz.Integrations, nil, v1.SourceDefault), "no Create on integrations")
}

func TestRequesterSubjectKeys(t *testing.T) {
	p := NewPlatform(configIdentities(), "system:serviceaccount:tenantward-system:tenantward")
	r := p.Requester(userInfo("system:serviceaccount:ci:deployer", "system:serviceaccounts"))
	if r.Platform {
		t.Error("a tenant service account is not a platform identity")
	}
	want := []string{"User:system:serviceaccount:ci:deployer", "ServiceAccount:ci/deployer", "Group:system:serviceaccounts"}
	if got := r.SubjectKeys(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("keys = %v, want %v", got, want)
	}
	if !p.Requester(userInfo("system:serviceaccount:tenantward-system:tenantward")).Platform {
		t.Error("the operator is a platform identity")
	}
	if !p.Requester(userInfo("root", "system:masters")).Platform {
		t.Error("system:masters is a platform identity")
	}
	if !p.Requester(userInfo("system:serviceaccount:argocd:applier")).Platform {
		t.Error("a configured service account is a platform identity")
	}
	// The operator's identity in local mode is a client certificate's plain
	// user; trusted by name it would let a tenant's user of that name through.
	local := NewPlatform(configIdentities(), "admin")
	if local.Requester(userInfo("admin", "system:authenticated")).Platform {
		t.Error("a bare user name is trusted as the operator")
	}
	if !local.Requester(userInfo("admin", "system:masters")).Platform {
		t.Error("the operator in local mode is a platform identity through system:masters")
	}
	if NewPlatform(config.PlatformIdentities{Users: []string{"root"}, Groups: []string{"admins"}}).Requester(userInfo("root", "admins")).Platform {
		t.Error("bare user and group names are never platform identities")
	}
}

func configIdentities() config.PlatformIdentities {
	return config.PlatformIdentities{Groups: []string{"system:masters"}, ServiceAccounts: []string{"argocd/applier"}}
}

func userInfo(name string, groups ...string) authenticationv1.UserInfo {
	return authenticationv1.UserInfo{Username: name, Groups: groups}
}
