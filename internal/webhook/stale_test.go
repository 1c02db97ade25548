package webhook_test

import (
	"errors"
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1 "github.com/tenantward/tenantward/api/v1alpha1"
)

// A platform removes an organization the hard way (strips its finalizer and
// deletes it) and creates a new one of the same name. The old namespaces stay
// (the new organization reports NamespaceConflict), labelled with the name,
// holding the old Memberships. The old members, acting in them, are refused by
// the webhooks: the namespaces record the removed organization's UID.
func TestStaleNamespaceGrantsNothing(t *testing.T) {
	tn := newTenant(t)
	old := &v1.Organization{}
	if err := admin.Get(testCtx, client.ObjectKeyFromObject(tn.org), old); err != nil {
		t.Fatal(err)
	}
	// Held by deletionPolicy Refuse while its workspace remains; then stripped.
	if err := admin.Delete(testCtx, old); err != nil {
		t.Fatal(err)
	}
	allowed(t, "platform strips the finalizer", updateAs(admin, old, func() { controllerutil.RemoveFinalizer(old, v1.Finalizer) }))
	eventually(t, "old organization gone from the webhooks' cache", func() error {
		err := mgrCache.Get(testCtx, client.ObjectKeyFromObject(tn.org), &v1.Organization{})
		if err == nil {
			return errors.New("still in the cache")
		}
		return client.IgnoreNotFound(err)
	})

	// Gone with no successor: the same refusal, the organization does not exist.
	owner := as(t, tn.owner)
	err := owner.Create(testCtx, membership(tn.orgNS, unique("friend"), v1.RoleOwner))
	denied(t, "old owner grants in the namespace of a gone organization", err, fmt.Sprintf("user %q may not create Membership", tn.owner),
		"organization "+tn.org.Name+" does not exist", "only a platform identity acts in a namespace left by a removed one")

	reborn := &v1.Organization{ObjectMeta: metav1.ObjectMeta{Name: tn.org.Name}}
	if err := admin.Create(testCtx, reborn); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new organization reports NamespaceConflict and is cached", func() error {
		cached := &v1.Organization{}
		if err := mgrCache.Get(testCtx, client.ObjectKeyFromObject(reborn), cached); err != nil {
			return err
		}
		for _, c := range cached.Status.Conditions {
			if c.Reason == "NamespaceConflict" && cached.UID == reborn.UID {
				return nil
			}
		}
		return fmt.Errorf("conditions %v", cached.Status.Conditions)
	})

	staleOrg := fmt.Sprintf("namespace %s was made for another organization %s of the same name", tn.orgNS, tn.org.Name)
	rule := "tenants act only in the namespaces of a live organization or workspace"
	err = owner.Create(testCtx, membership(tn.orgNS, unique("friend"), v1.RoleOwner))
	denied(t, "old owner grants in the stale org namespace", err, fmt.Sprintf("user %q may not create Membership", tn.owner), staleOrg, rule)
	if !apierrors.IsForbidden(err) {
		t.Errorf("want 403 Forbidden, got %v", err)
	}
	denied(t, "old owner edits a Membership in the stale org namespace", updateAs(owner, tn.ownerMembship, func() {
		tn.ownerMembship.Labels = map[string]string{"team": "x"}
	}), staleOrg, rule)
	denied(t, "old admin creates an admin key in the stale org namespace",
		as(t, tn.admin).Create(testCtx, apiKey(tn.orgNS, v1.APIKeyPermissions{Completions: v1.ToggleEnabled})), staleOrg, rule)
	// The new Organization itself: the old owner's Memberships sit in the
	// namespace its name points to, but that namespace is not its own.
	denied(t, "old owner edits the new organization", updateAs(owner, reborn, func() { reborn.Labels = map[string]string{"team": "x"} }),
		fmt.Sprintf("user %q may not update Organization %q", tn.owner, tn.org.Name), staleOrg, rule)
	denied(t, "old owner deletes the new organization", owner.Delete(testCtx, reborn.DeepCopy(), client.DryRunAll), staleOrg, rule)
	// The workspace namespace hangs off the stale org namespace.
	denied(t, "old workspace admin creates a key in the stale workspace namespace",
		as(t, tn.wsAdmin).Create(testCtx, apiKey(tn.wsNS, v1.APIKeyPermissions{Completions: v1.ToggleEnabled})),
		fmt.Sprintf("user %q may not create APIKey", tn.wsAdmin), staleOrg, rule)
	denied(t, "old workspace admin grants in the stale workspace namespace",
		as(t, tn.wsAdmin).Create(testCtx, membership(tn.wsNS, unique("friend"), v1.RoleAdmin)), staleOrg, rule)

	// The allowed twins: a platform identity acts there (to clean it up), and
	// the members of a live organization keep acting in theirs.
	allowed(t, "platform creates a Membership in the stale namespace", admin.Create(testCtx, membership(tn.orgNS, unique("cleanup"), v1.RoleMember)))
	allowed(t, "platform deletes a Membership in the stale workspace namespace",
		admin.DeleteAllOf(testCtx, &v1.Membership{}, client.InNamespace(tn.wsNS)))
	live := newTenant(t)
	allowed(t, "a live owner grants in their namespace", as(t, live.owner).Create(testCtx, membership(live.orgNS, unique("friend"), v1.RoleMember)))
	allowed(t, "a live workspace admin creates a key", as(t, live.wsAdmin).Create(testCtx, apiKey(live.wsNS, v1.APIKeyPermissions{Completions: v1.ToggleEnabled})))
}

// The same for a workspace: the platform strips its finalizer and deletes it,
// an org admin makes a new one of the same name; the old workspace namespace
// (NamespaceConflict for the new one) grants its old members nothing.
func TestStaleWorkspaceNamespaceGrantsNothing(t *testing.T) {
	tn := newTenant(t)
	old := tn.ws.DeepCopy()
	if err := admin.Delete(testCtx, old); err != nil {
		t.Fatal(err)
	}
	allowed(t, "platform strips the workspace's finalizer", updateAs(admin, old, func() { controllerutil.RemoveFinalizer(old, v1.Finalizer) }))
	eventually(t, "old workspace gone from the webhooks' cache", func() error {
		err := mgrCache.Get(testCtx, client.ObjectKeyFromObject(tn.ws), &v1.Workspace{})
		if err == nil {
			return errors.New("still in the cache")
		}
		return client.IgnoreNotFound(err)
	})
	rule := "tenants act only in the namespaces of a live organization or workspace"
	wsAdmin := as(t, tn.wsAdmin)
	denied(t, "old workspace admin grants in the namespace of a gone workspace",
		wsAdmin.Create(testCtx, membership(tn.wsNS, unique("friend"), v1.RoleAdmin)), "workspace team does not exist in "+tn.orgNS, rule)

	reborn := &v1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: tn.ws.Name, Namespace: tn.orgNS}, Spec: v1.WorkspaceSpec{Organization: tn.org.Name}}
	allowed(t, "org admin recreates the workspace", as(t, tn.admin).Create(testCtx, reborn))
	eventually(t, "the new workspace reports NamespaceConflict and is cached", func() error {
		cached := &v1.Workspace{}
		if err := mgrCache.Get(testCtx, client.ObjectKeyFromObject(reborn), cached); err != nil {
			return err
		}
		for _, c := range cached.Status.Conditions {
			if c.Reason == "NamespaceConflict" && cached.UID == reborn.UID {
				return nil
			}
		}
		return fmt.Errorf("conditions %v", cached.Status.Conditions)
	})
	stale := fmt.Sprintf("namespace %s was made for another workspace team of organization %s of the same name", tn.wsNS, tn.org.Name)
	denied(t, "old workspace admin grants in the stale workspace namespace",
		wsAdmin.Create(testCtx, membership(tn.wsNS, unique("friend"), v1.RoleAdmin)), stale, rule)
	denied(t, "old manager creates a key in the stale workspace namespace",
		as(t, tn.manager).Create(testCtx, apiKey(tn.wsNS, v1.APIKeyPermissions{Completions: v1.ToggleEnabled})), stale, rule)
	// The twin: the organization's own namespace is live, its members act.
	allowed(t, "owner grants in the live org namespace", as(t, tn.owner).Create(testCtx, membership(tn.orgNS, unique("friend"), v1.RoleMember)))
}
