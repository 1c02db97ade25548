package webhook_test

import (
	"encoding/json"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tenantward/tenantward/api/v1alpha1"
)

// These tests replay, as tenants, attacks against the merged product that
// the rules of issue 10 were not written for: tenantward's kinds in a
// namespace that is no tenant's, and the dry-run and server-side apply forms
// of the attacks.

// TestTenantKindsOutsideTenancyAreRefused: the tenant has create rights in a
// platform namespace (monitoring) through RBAC the platform gave for something
// else. Memberships, APIKeys, IntegrationPolicies and Workspaces there are
// refused: they mean something only in a tenant namespace.
func TestTenantKindsOutsideTenancyAreRefused(t *testing.T) {
	tn := newTenant(t)
	monitoring := unique("monitoring")
	if err := admin.Create(testCtx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: monitoring}}); err != nil {
		t.Fatal(err)
	}
	owner := as(t, tn.owner)
	notTenancy := "this namespace is not one tenantward made"
	policy := func(ns string) *v1.IntegrationPolicy {
		return &v1.IntegrationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns}}
	}
	ws := &v1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: unique("ws"), Namespace: monitoring}, Spec: v1.WorkspaceSpec{Organization: tn.org.Name}}
	for _, dry := range [][]client.CreateOption{nil, {client.DryRunAll}} {
		mode := fmt.Sprintf("(dry run %v)", dry != nil)
		denied(t, "owner grants himself owner in monitoring "+mode,
			owner.Create(testCtx, membership(monitoring, tn.owner, v1.RoleOwner), dry...), "Membership belongs in", notTenancy)
		denied(t, "owner creates a key in monitoring "+mode,
			owner.Create(testCtx, apiKey(monitoring, v1.APIKeyPermissions{Completions: v1.ToggleEnabled}), dry...), "APIKey belongs in", notTenancy)
		denied(t, "owner creates an IntegrationPolicy in monitoring "+mode,
			owner.Create(testCtx, policy(monitoring), dry...), "IntegrationPolicy belongs in", notTenancy)
		denied(t, "owner creates a Workspace in monitoring "+mode,
			owner.Create(testCtx, ws.DeepCopy(), dry...), "a Workspace belongs in its organization's namespace")
	}
	// The twins: the same objects in the owner's own namespaces.
	allowed(t, "owner grants in the org namespace", owner.Create(testCtx, membership(tn.orgNS, unique("friend"), v1.RoleMember), client.DryRunAll))
	allowed(t, "owner creates a workspace key", owner.Create(testCtx, apiKey(tn.wsNS, v1.APIKeyPermissions{Completions: v1.ToggleEnabled}), client.DryRunAll))
	allowed(t, "owner creates the org IntegrationPolicy", owner.Create(testCtx, policy(tn.orgNS), client.DryRunAll))
}

// applyAs server-side applies obj (its JSON, TypeMeta set) as c with field manager manager.
func applyAs(c client.Client, obj client.Object, kind, manager string, opts ...client.PatchOption) error {
	obj.GetObjectKind().SetGroupVersionKind(v1.GroupVersion.WithKind(kind))
	data, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	return c.Patch(testCtx, obj, client.RawPatch(types.ApplyPatchType, data), append(opts, client.FieldOwner(manager), client.ForceOwnership)...)
}

// TestDryRunAndApplyAreDecidedAlike replays issue 10's attacks as dry runs,
// server-side applies and JSON patches: the webhooks see each as the create
// or update it would be and refuse it with the same message.
func TestDryRunAndApplyAreDecidedAlike(t *testing.T) {
	tn := newTenant(t)
	orgAdmin := as(t, tn.admin)
	dry := client.DryRunAll

	// A workspace at a reserved namespace, applied.
	reserved := &v1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: unique("ws"), Namespace: tn.orgNS},
		Spec: v1.WorkspaceSpec{Organization: tn.org.Name, Namespace: "kube-system"}}
	for _, opts := range [][]client.PatchOption{nil, {dry}} {
		denied(t, "admin applies a workspace at kube-system", applyAs(orgAdmin, reserved.DeepCopy(), "Workspace", "kubectl", opts...),
			"namespace kube-system is reserved")
	}

	// The last owner leaving, as a dry run.
	owner := as(t, tn.owner)
	m := tn.ownerMembship.DeepCopy()
	lastOwner := "last owner of organization " + tn.org.Name
	if err := admin.Get(testCtx, client.ObjectKeyFromObject(m), m); err != nil {
		t.Fatal(err)
	}
	denied(t, "last owner deletes himself (dry run)", owner.Delete(testCtx, m.DeepCopy(), client.DryRunAll), lastOwner)

	// The finalizer stripped by a JSON patch, dry run and real.
	strip := client.RawPatch(types.JSONPatchType, []byte(`[{"op":"remove","path":"/metadata/finalizers"}]`))
	org := tn.org.DeepCopy()
	eventually(t, "the organization's finalizer", func() error {
		if err := admin.Get(testCtx, client.ObjectKeyFromObject(org), org); err != nil {
			return err
		}
		if len(org.Finalizers) == 0 {
			return fmt.Errorf("no finalizer yet")
		}
		return nil
	})
	for _, opts := range [][]client.PatchOption{{dry}, nil} {
		denied(t, "owner strips the organization's finalizer with a JSON patch", owner.Patch(testCtx, org.DeepCopy(), strip, opts...),
			"metadata.finalizers", "is removed only by the operator")
	}

	// A key above the manager's ceiling re-enabled by an apply.
	key := apiKey(tn.wsNS, v1.APIKeyPermissions{Completions: v1.ToggleEnabled, Providers: v1.AccessDelete})
	key.Spec.State = v1.KeyDisabled
	allowed(t, "admin creates a disabled key above a manager's ceiling", orgAdmin.Create(testCtx, key))
	revive := &v1.APIKey{ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace},
		Spec: v1.APIKeySpec{Permissions: key.Spec.Permissions, State: v1.KeyEnabled}}
	for _, opts := range [][]client.PatchOption{{dry}, nil} {
		denied(t, "manager applies the key enabled", applyAs(as(t, tn.manager), revive.DeepCopy(), "APIKey", "kubectl", opts...),
			"any change to a key needs the key within the requester's ceiling")
	}
	// The twins: an allowed apply, dry run and real.
	mine := &v1.APIKey{ObjectMeta: metav1.ObjectMeta{Name: unique("key"), Namespace: tn.wsNS},
		Spec: v1.APIKeySpec{Permissions: v1.APIKeyPermissions{Completions: v1.ToggleEnabled}}}
	for _, opts := range [][]client.PatchOption{{dry}, nil} {
		allowed(t, "manager applies a key within the ceiling", applyAs(as(t, tn.manager), mine.DeepCopy(), "APIKey", "kubectl", opts...))
	}
	allowed(t, "owner strips nothing but labels the organization", owner.Patch(testCtx, org.DeepCopy(),
		client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"team":"blue"}}}`))))
}

// TestNoOneWidensOwnRights: a workspace manager (and an owner) holding, through
// RBAC the platform gave, every verb on tenantward's kinds and their status
// subresources, tries to widen their own rights: the Workspace's spec, the
// IntegrationPolicies, and the status the operator acts on (a Workspace's
// integration access becomes the manager's RBAC on gated kinds; an
// Organization's status.namespace says where its RBAC goes).
func TestNoOneWidensOwnRights(t *testing.T) {
	tn := newTenant(t)
	denyAI := &v1.IntegrationAccess{ManagersWrite: v1.Denied}
	orgPolicy := &v1.IntegrationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: tn.orgNS},
		Spec: v1.IntegrationPolicySpec{AIIntegrations: denyAI}}
	allowed(t, "owner closes AI integrations to managers", as(t, tn.owner).Create(testCtx, orgPolicy))

	manager := as(t, tn.manager)
	ws := tn.ws.DeepCopy()
	denied(t, "manager edits the Workspace", updateAs(manager, ws, func() { ws.Spec.DisplayName = "mine" }),
		"workspaces are created, changed and deleted by organization owners and admins", "needs the organization admin role")
	override := &v1.IntegrationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: tn.wsNS},
		Spec: v1.IntegrationPolicySpec{AIIntegrations: &v1.IntegrationAccess{ManagersWrite: v1.Allowed}}}
	denied(t, "manager overrides the policy in the workspace", manager.Create(testCtx, override.DeepCopy()),
		"a workspace's integration access is overridden by organization owners and admins and the workspace admin")
	p := orgPolicy.DeepCopy()
	denied(t, "manager opens the org policy", updateAs(manager, p, func() { p.Spec.AIIntegrations = nil }),
		"the organization's integration access is set by its owners and admins")

	// Status: what the operator observed and acts on.
	denied(t, "manager opens AI integrations in the Workspace status", updateStatusAs(manager, ws, func() {
		ws.Status.IntegrationAccess = []v1.EffectiveIntegrationAccess{{Type: v1.IntegrationAI, ManagersWrite: v1.Allowed, Source: v1.SourceWorkspace}}
	}), fmt.Sprintf("user %q (no role in %s) may not update Workspace", tn.manager, tn.org.Name),
		"Workspace status (what the operator observed and acts on) is written only by the operator")
	org := tn.org.DeepCopy()
	denied(t, "owner points the Organization status at another namespace", updateStatusAs(as(t, tn.owner), org, func() {
		org.Status.Namespace = tn.wsNS
	}), "Organization status (what the operator observed and acts on) is written only by the operator")
	m := tn.ownerMembship.DeepCopy()
	denied(t, "owner rewrites a Membership's status", updateStatusAs(as(t, tn.owner), m, func() { m.Status.BoundNamespaces = []string{"kube-system"} }),
		"Membership status (what the operator observed and acts on) is written only by the operator")
	denied(t, "manager rewrites the policy's status", updateStatusAs(manager, p, func() { p.Status.Conditions = nil }),
		"IntegrationPolicy status (what the operator observed and acts on) is written only by the operator")

	// The twins: the workspace admin overrides (the org decides whether it
	// counts), and platform identities write status.
	allowed(t, "workspace admin overrides the policy", as(t, tn.wsAdmin).Create(testCtx, override.DeepCopy(), client.DryRunAll))
	allowed(t, "platform writes Workspace status", updateStatusAs(admin, ws, func() { ws.Status.ObservedGeneration = ws.Generation }))
}

// TestOperatorLabelsAreNotTenants: tenants relabel the objects they may
// update, to pass an APIKey off as the master key, to move an object into
// another organization's selectors and audit records, or to mark it as made
// by the operator.
func TestOperatorLabelsAreNotTenants(t *testing.T) {
	tn := newTenant(t)
	owner := as(t, tn.owner)
	rule := "is the operator's: a tenant never sets, changes or removes tenantward.io/* labels and annotations"
	master := &v1.APIKey{ObjectMeta: metav1.ObjectMeta{Name: "master", Namespace: tn.orgNS}}
	eventually(t, "the master key", func() error { return admin.Get(testCtx, client.ObjectKeyFromObject(master), master) })
	denied(t, "owner strips the master-key label", updateAs(owner, master, func() { delete(master.Labels, v1.LabelMasterKey) }),
		"metadata.labels[tenantward.io/master-key]", rule)
	denied(t, "owner moves the master key to another organization", updateAs(owner, master, func() { master.Labels[v1.LabelOrganization] = "victim" }),
		"metadata.labels[tenantward.io/organization]", rule)

	key := apiKey(tn.wsNS, v1.APIKeyPermissions{Completions: v1.ToggleEnabled})
	allowed(t, "manager creates a key", as(t, tn.manager).Create(testCtx, key))
	denied(t, "manager passes the key off as a master key", updateAs(as(t, tn.manager), key, func() {
		key.Labels = map[string]string{v1.LabelMasterKey: "true"}
	}), "metadata.labels[tenantward.io/master-key]", rule)
	forged := membership(tn.orgNS, unique("friend"), v1.RoleMember)
	forged.Labels = map[string]string{v1.LabelManagedBy: v1.ManagedByValue, v1.LabelWorkspace: "team"}
	forged.Annotations = map[string]string{v1.AnnotationOwnerUID: string(tn.org.UID)}
	err := owner.Create(testCtx, forged)
	denied(t, "owner creates a Membership marked as the operator's", err, "metadata.labels[app.kubernetes.io/managed-by]",
		"metadata.labels[tenantward.io/workspace]", "metadata.annotations[tenantward.io/owner-uid]", rule)

	// The twins: the tenant's own labels, another tool's managed-by, and the
	// platform setting the operator's.
	m := tn.ownerMembship.DeepCopy()
	allowed(t, "owner labels a Membership for his own tools", updateAs(owner, m, func() {
		m.Labels = map[string]string{"team": "blue", v1.LabelManagedBy: "Helm"}
	}))
	allowed(t, "platform labels a key", updateAs(admin, key, func() { key.Labels = map[string]string{v1.LabelMasterKey: "false"} }))
	allowed(t, "owner edits the master key leaving its labels", updateAs(owner, master, func() { master.Spec.Description = "ours" }))
}
