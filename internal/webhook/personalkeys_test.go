package webhook_test

import (
	"fmt"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/authz"
	"github.com/tenantward/tenantward/internal/controlplane"
	"github.com/tenantward/tenantward/internal/manager"
)

// personalKey is a key of ns owned by the user owner.
func personalKey(ns, owner string, p v1.APIKeyPermissions) *v1.APIKey {
	k := apiKey(ns, p)
	k.Spec.Owner = &v1.Subject{Kind: v1.SubjectUser, Name: owner}
	return k
}

// allowPersonalKeys turns the workspace's personal keys on (as an org admin)
// and waits until the webhooks' cache sees it.
func allowPersonalKeys(t *testing.T, tn *tenant) {
	t.Helper()
	ws := tn.ws.DeepCopy()
	allowed(t, "org admin turns personal keys on", updateAs(as(t, tn.admin), ws, func() {
		ws.Spec.APIKeys = &v1.WorkspaceKeyPolicy{PersonalKeys: v1.ToggleEnabled}
	}))
	eventually(t, "the workspace's personal keys on in the cache", func() error {
		got := &v1.Workspace{}
		if err := mgrCache.Get(testCtx, client.ObjectKeyFromObject(ws), got); err != nil {
			return err
		}
		if got.Spec.APIKeys == nil || got.Spec.APIKeys.PersonalKeys != v1.ToggleEnabled {
			return fmt.Errorf("personalKeys is not Enabled yet")
		}
		return nil
	})
}

var completions = v1.APIKeyPermissions{Completions: v1.ToggleEnabled}

// TestPersonalKeysOffByDefault: in a workspace that has not turned personal
// keys on, a member creates none, even their own, and neither does a manager
// for them; the generated RBAC gives members no create on apikeys either.
func TestPersonalKeysOffByDefault(t *testing.T) {
	tn := newTenant(t)
	off := "personal keys are off in workspace team: its spec.apiKeys.personalKeys is Disabled (the default)"
	denied(t, "member creates their own key", as(t, tn.wsMember).Create(testCtx, personalKey(tn.wsNS, tn.wsMember, completions)), off)
	denied(t, "manager creates a key for a member", as(t, tn.manager).Create(testCtx, personalKey(tn.wsNS, tn.wsMember, completions)), off)
	allowed(t, "manager creates a workspace key (no owner)", as(t, tn.manager).Create(testCtx, apiKey(tn.wsNS, completions)))
	create := authorizationv1.ResourceAttributes{Namespace: tn.wsNS, Verb: "create", Group: v1.GroupVersion.Group, Resource: "apikeys"}
	if canIOnly(t, tn.wsMember, create) {
		t.Error("kubectl auth can-i create apikeys --as=<workspace member>: yes where personal keys are off")
	}
}

// TestPersonalKeyAttacks replays, as tenants, what a member or a manager
// might try with personal keys once the workspace allows them, each beside
// the allowed twin.
func TestPersonalKeyAttacks(t *testing.T) {
	tn := newTenant(t)
	allowPersonalKeys(t, tn)
	erin, alice := tn.wsMember, tn.member
	asErin := as(t, erin)

	// The generated RBAC now lets members create (and rotate) apikeys here.
	for _, verb := range []string{"create", "rotate"} {
		attrs := authorizationv1.ResourceAttributes{Namespace: tn.wsNS, Verb: verb, Group: v1.GroupVersion.Group, Resource: "apikeys"}
		eventually(t, "kubectl auth can-i "+verb+" apikeys --as=<workspace member>", func() error {
			if !canIOnly(t, erin, attrs) {
				return fmt.Errorf("no: %s is not bound yet", authz.PersonalKeysClusterRoleName)
			}
			return nil
		})
	}

	denied(t, "erin creates a key owned by alice", asErin.Create(testCtx, personalKey(tn.wsNS, alice, completions)),
		"a member creates, changes and deletes only their own personal keys", "spec.owner")
	denied(t, "erin creates a workspace key (no owner)", asErin.Create(testCtx, apiKey(tn.wsNS, completions)),
		"a member creates, changes and deletes only their own personal keys")
	own := personalKey(tn.wsNS, erin, completions)
	allowed(t, "erin creates her own key", asErin.Create(testCtx, own))
	denied(t, "erin raises her key above her role", updateAs(asErin, own, func() { own.Spec.Permissions.Configs = v1.AccessDelete }),
		"a key's permissions never exceed what its creator holds", "configs requested Delete, the most your role grants is Write",
		"a personal key's permissions never exceed its owner's role")
	allowed(t, "erin gives her key configs Write", updateAs(asErin, own, func() { own.Spec.Permissions.Configs = v1.AccessWrite }))
	allowed(t, "erin rotates her key", updateAs(asErin, own, func() { own.Annotations = map[string]string{v1.AnnotationRotate: "1"} }))

	// A manager creates personal keys for members, within the owner's role.
	mgr := as(t, tn.manager)
	denied(t, "manager gives erin's key more than erin's role", mgr.Create(testCtx, personalKey(tn.wsNS, erin, v1.APIKeyPermissions{Configs: v1.AccessDelete})),
		"a personal key's permissions never exceed its owner's role: configs requested Delete, the most "+erin+"'s role (workspace member) grants is Write")
	managed := personalKey(tn.wsNS, erin, v1.APIKeyPermissions{Configs: v1.AccessWrite})
	allowed(t, "manager creates a key for erin within her role", mgr.Create(testCtx, managed))
	alices := personalKey(tn.wsNS, alice, completions)
	allowed(t, "manager creates a key for alice, an organization member", mgr.Create(testCtx, alices))
	denied(t, "erin edits alice's key", updateAs(asErin, alices, func() { alices.Spec.Description = "mine now" }),
		"only their own personal keys")
	denied(t, "erin deletes alice's key", asErin.Delete(testCtx, alices), "only their own personal keys")

	// Owners the organization does not vouch for.
	other := newTenant(t)
	denied(t, "manager creates a key owned by another organization's member", mgr.Create(testCtx, personalKey(tn.wsNS, other.member, completions)),
		"holds no role in "+tn.org.Name+"/team through a Membership naming them")
	denied(t, "manager creates a key owned by a system: identity", mgr.Create(testCtx, personalKey(tn.wsNS, "system:serviceaccount:kube-system:default", completions)),
		"spec.owner", "never names a system: identity")
	denied(t, "the platform creates a key owned by a system: identity", admin.Create(testCtx, personalKey(tn.wsNS, "system:admin", completions)),
		"spec.owner", "never names a system: identity")
	group := apiKey(tn.wsNS, completions)
	group.Spec.Owner = &v1.Subject{Kind: v1.SubjectGroup, Name: "team"}
	denied(t, "manager creates a key owned by a group", mgr.Create(testCtx, group), "a key's owner is a User or a ServiceAccount, not a Group")
	denied(t, "owner creates an admin key with an owner", as(t, tn.owner).Create(testCtx, personalKey(tn.orgNS, tn.owner, completions)),
		"an admin key (in the organization namespace) has no owner")

	// A member only through a group cannot be vouched for after the request.
	gwen := unique("gwen")
	groupName := unique("team")
	m := membership(tn.wsNS, groupName, v1.RoleMember)
	m.Spec.Subject.Kind = v1.SubjectGroup
	allowed(t, "platform makes a group a member", admin.Create(testCtx, m))
	eventually(t, "group membership in the cache", func() error { return mgrCache.Get(testCtx, client.ObjectKeyFromObject(m), &v1.Membership{}) })
	asGwen, err := client.New(controlplane.Impersonate(testEnv.Config, gwen, tenantsGroup, groupName), client.Options{Scheme: manager.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	denied(t, "gwen, a member through a group, creates her own key", asGwen.Create(testCtx, personalKey(tn.wsNS, gwen, completions)),
		"a role held through a group does not count")

	// The owner is immutable (CRD rule), whoever asks.
	denied(t, "erin hands her key to alice", updateAs(asErin, own, func() { own.Spec.Owner.Name = alice }), "owner is immutable")
	denied(t, "the platform drops the owner", updateAs(admin, own, func() { own.Spec.Owner = nil }), "owner is immutable")
	allowed(t, "erin deletes her own key", asErin.Delete(testCtx, own))
}

// TestLeftOwnersKeyIsNotRevived: the owner of a personal key leaves, the
// operator disables the key, and a GitOps applier (a platform identity, as
// Argo CD with selfHeal would be) re-applies state: Enabled: refused, as is
// the manager's attempt. Once the owner is a member again, the manager may.
func TestLeftOwnersKeyIsNotRevived(t *testing.T) {
	tn := newTenant(t)
	allowPersonalKeys(t, tn)
	applier := as(t, "system:serviceaccount:argocd:applier")
	key := personalKey(tn.wsNS, tn.wsMember, completions)
	allowed(t, "the applier creates a member's personal key", applier.Create(testCtx, key))

	var m v1.MembershipList
	if err := admin.List(testCtx, &m, client.InNamespace(tn.wsNS)); err != nil {
		t.Fatal(err)
	}
	for i := range m.Items {
		if m.Items[i].Spec.Subject.Name == tn.wsMember {
			allowed(t, "the platform removes the member", admin.Delete(testCtx, &m.Items[i]))
		}
	}
	eventually(t, "the operator disables the key", func() error {
		if err := admin.Get(testCtx, client.ObjectKeyFromObject(key), key); err != nil {
			return err
		}
		if key.Spec.State != v1.KeyDisabled {
			return fmt.Errorf("spec.state %s", key.Spec.State)
		}
		return nil
	})
	left := "holds no role in " + tn.org.Name + "/team through a Membership naming them"
	enable := func() { key.Spec.State = v1.KeyEnabled }
	denied(t, "the applier re-applies state: Enabled", updateAs(applier, key, enable), left)
	denied(t, "the manager re-enables it", updateAs(as(t, tn.manager), key, enable), left)
	denied(t, "the manager edits its description while its owner is away", updateAs(as(t, tn.manager), key, func() { key.Spec.Description = "left" }), left)
	allowed(t, "the manager labels it", updateAs(as(t, tn.manager), key, func() { key.Labels = map[string]string{"owner-left": "true"} }))

	grant(t, tn.wsNS, tn.wsMember, v1.RoleMember)
	allowed(t, "the manager re-enables it once the owner is back", updateAs(as(t, tn.manager), key, enable))
}
