package controllers_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
)

func TestMembershipStatusSaysWhereBound(t *testing.T) {
	org := createOrganization(t, uniqueName("status"))
	ws := createWorkspace(t, org, "alpha")
	m := createMembership(t, org.Status.Namespace, org.Name+"-member@example.com", accessv1alpha1.RoleMember)
	eventually(t, "org membership bound in both namespaces", func() error {
		if err := adminClient.Get(testCtx, client.ObjectKeyFromObject(m), m); err != nil {
			return err
		}
		want := []string{org.Status.Namespace, ws.Status.Namespace}
		slices.Sort(want)
		if m.Status.Organization != org.Name || !slices.Equal(m.Status.BoundNamespaces, want) {
			return fmt.Errorf("status %+v, want organization %s bound in %v", m.Status, org.Name, want)
		}
		return nil
	})

	wm := createMembership(t, ws.Status.Namespace, org.Name+"-dev@example.com", accessv1alpha1.RoleManager)
	if wm.Status.Workspace != "alpha" || !slices.Equal(wm.Status.BoundNamespaces, []string{ws.Status.Namespace}) {
		t.Errorf("workspace membership status %+v", wm.Status)
	}

	// A role the scope does not have is reported, and grants nothing.
	bad := &accessv1alpha1.Membership{
		ObjectMeta: metav1.ObjectMeta{Name: "bad", Namespace: org.Status.Namespace},
		Spec: accessv1alpha1.MembershipSpec{
			Subject: accessv1alpha1.Subject{Kind: accessv1alpha1.SubjectUser, Name: "confused@example.com"},
			Role:    accessv1alpha1.RoleManager,
		},
	}
	if err := adminClient.Create(testCtx, bad); err != nil {
		t.Fatal(err)
	}
	eventually(t, "InvalidRole condition", func() error {
		if err := adminClient.Get(testCtx, client.ObjectKeyFromObject(bad), bad); err != nil {
			return err
		}
		if err := conditionErr(bad.Status.Conditions, "InvalidRole", `role "manager" is not an organization role`); err != nil {
			return err
		}
		return eventErr(bad.Namespace, bad.Name, "InvalidRole")
	})
	if canI(t, "confused@example.com", authorizationv1.ResourceAttributes{Namespace: org.Status.Namespace, Verb: "list", Group: gw, Resource: "prompts"}) {
		t.Error("an invalid membership must grant nothing")
	}
}

func TestServiceAccountAndGroupSubjects(t *testing.T) {
	org := createOrganization(t, uniqueName("subjects"))
	for _, s := range []accessv1alpha1.Subject{
		{Kind: accessv1alpha1.SubjectGroup, Name: "platform-admins"},
		{Kind: accessv1alpha1.SubjectServiceAccount, Name: "argocd-applier", Namespace: "argocd"},
	} {
		m := &accessv1alpha1.Membership{
			ObjectMeta: metav1.ObjectMeta{Name: uniqueName("m"), Namespace: org.Status.Namespace},
			Spec:       accessv1alpha1.MembershipSpec{Subject: s, Role: accessv1alpha1.RoleAdmin},
		}
		if err := adminClient.Create(testCtx, m); err != nil {
			t.Fatal(err)
		}
	}
	prompts := authorizationv1.ResourceAttributes{Namespace: org.Status.Namespace, Verb: "delete", Group: gw, Resource: "prompts"}
	eventually(t, "group and service account hold the admin role", func() error {
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &prompts}}
		if err := asUser(t, "alice", "platform-admins").Create(testCtx, review); err != nil {
			return err
		}
		if !review.Status.Allowed {
			return fmt.Errorf("a member of group platform-admins may not delete prompts")
		}
		if !canI(t, "system:serviceaccount:argocd:argocd-applier", prompts) {
			return fmt.Errorf("service account argocd/argocd-applier may not delete prompts")
		}
		return nil
	})
	if canI(t, "alice", prompts) {
		t.Error("alice outside the group must not hold the group's role")
	}
}

func TestDeletedOrEditedBindingIsRestored(t *testing.T) {
	org := createOrganization(t, uniqueName("restore"))
	user := org.Name + "-admin@example.com"
	createMembership(t, org.Status.Namespace, user, accessv1alpha1.RoleAdmin)
	name := "tenantward:organization:admin"
	_, rb, err := bindingSubjects(org.Status.Namespace, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := adminClient.Delete(testCtx, rb); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deleted binding restored", func() error {
		_, got, err := bindingSubjects(org.Status.Namespace, name)
		if err != nil {
			return err
		}
		if got.UID == rb.UID {
			return fmt.Errorf("not deleted yet")
		}
		return nil
	})

	_, rb, _ = bindingSubjects(org.Status.Namespace, name)
	patch := client.MergeFrom(rb.DeepCopy())
	rb.Subjects = append(rb.Subjects, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "mallory@example.com"})
	if err := adminClient.Patch(testCtx, rb, patch); err != nil {
		t.Fatal(err)
	}
	eventually(t, "edited binding restored", func() error {
		subjects, _, err := bindingSubjects(org.Status.Namespace, name)
		if err != nil {
			return err
		}
		if !slices.Equal(subjects, []string{user}) {
			return fmt.Errorf("subjects %v", subjects)
		}
		return nil
	})
	if canI(t, "mallory@example.com", authorizationv1.ResourceAttributes{Namespace: org.Status.Namespace, Verb: "get", Group: gw, Resource: "prompts"}) {
		t.Error("mallory kept access after the binding was restored")
	}
}

func TestRemovingMembershipRevokesAccess(t *testing.T) {
	org := createOrganization(t, uniqueName("revoke"))
	ws := createWorkspace(t, org, "main")
	keep := createMembership(t, org.Status.Namespace, org.Name+"-keep@example.com", accessv1alpha1.RoleMember)
	leave := createMembership(t, org.Status.Namespace, org.Name+"-leave@example.com", accessv1alpha1.RoleMember)
	attrs := authorizationv1.ResourceAttributes{Namespace: ws.Status.Namespace, Verb: "create", Group: gw, Resource: "prompts"}
	if !canI(t, leave.Spec.Subject.Name, attrs) {
		t.Fatal("the member should be able to create prompts in the workspace")
	}
	if err := adminClient.Delete(testCtx, leave); err != nil {
		t.Fatal(err)
	}
	eventually(t, "access revoked", func() error {
		if canI(t, leave.Spec.Subject.Name, attrs) {
			return fmt.Errorf("%s still may create prompts", leave.Spec.Subject.Name)
		}
		return nil
	})
	if !canI(t, keep.Spec.Subject.Name, attrs) {
		t.Error("the other member lost access")
	}

	// The last holder of a role gone, its bindings go too.
	if err := adminClient.Delete(testCtx, keep); err != nil {
		t.Fatal(err)
	}
	eventually(t, "member bindings removed", func() error {
		for _, ns := range []string{org.Status.Namespace, ws.Status.Namespace} {
			err := adminClient.Get(testCtx, client.ObjectKey{Namespace: ns, Name: "tenantward:organization:member"}, &rbacv1.RoleBinding{})
			if !apierrors.IsNotFound(err) {
				return fmt.Errorf("binding in %s: %w", ns, err)
			}
		}
		return nil
	})
	eventually(t, "Organization access revoked", func() error {
		if canI(t, keep.Spec.Subject.Name, authorizationv1.ResourceAttributes{Verb: "get", Group: acc, Resource: "organizations", Name: org.Name}) {
			return fmt.Errorf("still may get the organization")
		}
		return nil
	})
}

func TestManagerIntegrationWritesFollowPolicy(t *testing.T) {
	org := createOrganization(t, uniqueName("policy"))
	ws := createWorkspace(t, org, "team")
	manager := org.Name + "-manager@example.com"
	createMembership(t, ws.Status.Namespace, manager, accessv1alpha1.RoleManager)
	create := func(resource string) authorizationv1.ResourceAttributes {
		return authorizationv1.ResourceAttributes{Namespace: ws.Status.Namespace, Verb: "create", Group: gw, Resource: resource}
	}
	if !canI(t, manager, create("integrations")) {
		t.Fatal("by default managers write integrations")
	}
	policy := &accessv1alpha1.IntegrationPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: org.Status.Namespace},
		Spec: accessv1alpha1.IntegrationPolicySpec{
			AIIntegrations: &accessv1alpha1.IntegrationAccess{ManagersWrite: accessv1alpha1.Denied},
		},
	}
	if err := adminClient.Create(testCtx, policy); err != nil {
		t.Fatal(err)
	}
	eventually(t, "integration writes closed for managers", func() error {
		if canI(t, manager, create("integrations")) {
			return fmt.Errorf("manager still may create integrations")
		}
		return nil
	})
	list := create("integrations")
	list.Verb = "list"
	if !canI(t, manager, list) || !canI(t, manager, create("mcpservers")) {
		t.Error("a closed AI-integration gate must leave reads and the other types alone")
	}
}

// TestIdleReconcileWritesNothing applies the same YAML twice, as a GitOps tool
// would, adds tracking labels the operator did not set, and checks that the
// operator then writes nothing and keeps those labels.
func TestIdleReconcileWritesNothing(t *testing.T) {
	org := createOrganization(t, uniqueName("idle"))
	ws := createWorkspace(t, org, "steady")
	gitops := asUser(t, "system:serviceaccount:argocd:argocd-application-controller", "system:masters")
	apply := func(name, ns, user string, role accessv1alpha1.Role) *accessv1alpha1.Membership {
		m := &accessv1alpha1.Membership{
			TypeMeta:   metav1.TypeMeta{APIVersion: accessv1alpha1.GroupVersion.String(), Kind: "Membership"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"argocd.argoproj.io/instance": "tenants"}},
			Spec: accessv1alpha1.MembershipSpec{
				Subject: accessv1alpha1.Subject{Kind: accessv1alpha1.SubjectUser, Name: user}, Role: role,
			},
		}
		if err := gitops.Patch(testCtx, m, client.Apply, client.FieldOwner("argocd"), client.ForceOwnership); err != nil { //nolint:staticcheck // the way GitOps tools apply whole objects
			t.Fatal(err)
		}
		return m
	}
	m := apply("owner", org.Status.Namespace, "idle-owner@example.com", accessv1alpha1.RoleOwner)
	eventually(t, "membership Ready", func() error {
		if err := adminClient.Get(testCtx, client.ObjectKeyFromObject(m), m); err != nil {
			return err
		}
		return readyErr(m.Status.Conditions)
	})

	// Argo CD labels the namespaces it tracks.
	wsNS := &corev1.Namespace{}
	if err := adminClient.Get(testCtx, client.ObjectKey{Name: ws.Status.Namespace}, wsNS); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(wsNS.DeepCopy())
	wsNS.Labels["argocd.argoproj.io/instance"] = "tenants"
	if err := adminClient.Patch(testCtx, wsNS, patch); err != nil {
		t.Fatal(err)
	}

	versions := func() map[string]string {
		out := map[string]string{}
		objs := []client.Object{
			&accessv1alpha1.Organization{ObjectMeta: metav1.ObjectMeta{Name: org.Name}},
			&accessv1alpha1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: ws.Name, Namespace: ws.Namespace}},
			&accessv1alpha1.Membership{ObjectMeta: metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace}},
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: org.Status.Namespace}},
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ws.Status.Namespace}},
			&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "tenantward:organization:owner", Namespace: org.Status.Namespace}},
			&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "tenantward:organization:owner", Namespace: ws.Status.Namespace}},
			&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "tenantward:organization:" + org.Name + ":owner"}},
			&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "tenantward:organization:owner"}},
		}
		for _, o := range objs {
			if err := adminClient.Get(testCtx, client.ObjectKeyFromObject(o), o); err != nil {
				t.Fatalf("%T %s: %v", o, o.GetName(), err)
			}
			out[fmt.Sprintf("%T %s/%s", o, o.GetNamespace(), o.GetName())] = o.GetResourceVersion()
		}
		return out
	}
	before := versions()

	// The same YAML again is a no-op for the API server and for the operator.
	apply("owner", org.Status.Namespace, "idle-owner@example.com", accessv1alpha1.RoleOwner)
	// Touch every object the operator watches for this organization, then add a
	// sentinel membership: once it is bound, the operator has reconciled the
	// organization after the touches.
	for _, o := range []client.Object{
		&accessv1alpha1.Organization{ObjectMeta: metav1.ObjectMeta{Name: org.Name}},
		&accessv1alpha1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: ws.Name, Namespace: ws.Namespace}},
	} {
		if err := adminClient.Get(testCtx, client.ObjectKeyFromObject(o), o); err != nil {
			t.Fatal(err)
		}
		p := client.MergeFrom(o.DeepCopyObject().(client.Object))
		o.SetAnnotations(map[string]string{"example.com/touched": "yes"})
		if err := adminClient.Patch(testCtx, o, p); err != nil {
			t.Fatal(err)
		}
	}
	createMembership(t, ws.Status.Namespace, "sentinel@example.com", accessv1alpha1.RoleMember)
	eventually(t, "organization counts the sentinel", func() error {
		o := &accessv1alpha1.Organization{}
		if err := adminClient.Get(testCtx, client.ObjectKey{Name: org.Name}, o); err != nil {
			return err
		}
		if o.Status.Members != 2 {
			return fmt.Errorf("members = %d", o.Status.Members)
		}
		return nil
	})

	after := versions()
	for k, v := range before {
		if after[k] != v && k != fmt.Sprintf("%T /%s", &accessv1alpha1.Organization{}, org.Name) && k != fmt.Sprintf("%T %s/%s", &accessv1alpha1.Workspace{}, ws.Namespace, ws.Name) {
			t.Errorf("%s was written while idle: resourceVersion %s -> %s", k, v, after[k])
		}
	}
	if err := adminClient.Get(testCtx, client.ObjectKey{Name: ws.Status.Namespace}, wsNS); err != nil {
		t.Fatal(err)
	}
	if wsNS.Labels["argocd.argoproj.io/instance"] != "tenants" {
		t.Errorf("the Argo CD label was removed: %v", wsNS.Labels)
	}
}

func TestGeneratedClusterRoleIsRestored(t *testing.T) {
	createOrganization(t, uniqueName("roles"))
	name := "tenantward:workspace:member"
	cr := &rbacv1.ClusterRole{}
	eventually(t, "generated ClusterRole", func() error {
		return adminClient.Get(testCtx, client.ObjectKey{Name: name}, cr)
	})
	rules := cr.Rules
	patch := client.MergeFrom(cr.DeepCopy())
	cr.Rules = append(cr.Rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}})
	if err := adminClient.Patch(testCtx, cr, patch); err != nil {
		t.Fatal(err)
	}
	eventually(t, "edited ClusterRole restored", func() error {
		if err := adminClient.Get(testCtx, client.ObjectKey{Name: name}, cr); err != nil {
			return err
		}
		if len(cr.Rules) != len(rules) {
			return fmt.Errorf("%d rules, want %d", len(cr.Rules), len(rules))
		}
		return nil
	})
	if err := adminClient.Delete(testCtx, cr); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deleted ClusterRole restored", func() error {
		got := &rbacv1.ClusterRole{}
		if err := adminClient.Get(testCtx, client.ObjectKey{Name: name}, got); err != nil {
			return err
		}
		if got.UID == cr.UID {
			return fmt.Errorf("not deleted yet")
		}
		return nil
	})
}

// ownerGuarded waits until an owner Membership carries the last-owner finalizer.
func ownerGuarded(t *testing.T, m *accessv1alpha1.Membership) {
	t.Helper()
	eventually(t, "last-owner finalizer on "+m.Name, func() error {
		if err := adminClient.Get(testCtx, client.ObjectKeyFromObject(m), m); err != nil {
			return err
		}
		if !slices.Contains(m.Finalizers, accessv1alpha1.LastOwnerFinalizer) {
			return fmt.Errorf("finalizers %v", m.Finalizers)
		}
		return nil
	})
}

// TestLastOwnerIsHeld: deleting an organization's only owner Membership (even
// as the platform, past the webhooks) leaves it in place, its role bound, with
// a condition and an event saying why, until another owner exists.
func TestLastOwnerIsHeld(t *testing.T) {
	org := createOrganization(t, uniqueName("lastowner"))
	ns := org.Status.Namespace
	first := createMembership(t, ns, org.Name+"-first@example.com", accessv1alpha1.RoleOwner)
	ownerGuarded(t, first)
	if err := adminClient.Delete(testCtx, first); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the last owner held with a LastOwner condition and event", func() error {
		if err := adminClient.Get(testCtx, client.ObjectKeyFromObject(first), first); err != nil {
			return err
		}
		if first.DeletionTimestamp.IsZero() {
			return fmt.Errorf("not being deleted")
		}
		if err := conditionErr(first.Status.Conditions, "LastOwner", "the last owner of organization "+org.Name); err != nil {
			return err
		}
		return eventErr(ns, first.Name, "LastOwner")
	})
	if c := meta.FindStatusCondition(first.Status.Conditions, accessv1alpha1.ConditionReady); !strings.Contains(c.Message, "add another owner first") {
		t.Errorf("message %q does not say what to do", c.Message)
	}
	manage := authorizationv1.ResourceAttributes{Namespace: ns, Verb: "delete", Group: accessv1alpha1.GroupVersion.Group, Resource: "memberships"}
	if !canI(t, first.Spec.Subject.Name, manage) {
		t.Fatal("the held last owner lost its owner rights")
	}

	second := createMembership(t, ns, org.Name+"-second@example.com", accessv1alpha1.RoleOwner)
	eventually(t, "the first owner released once another owner exists", func() error { return goneErr(first) })
	if !canI(t, second.Spec.Subject.Name, manage) || canI(t, first.Spec.Subject.Name, manage) {
		t.Error("want the second owner's rights bound and the first's gone")
	}
}

// TestOrganizationDeletionReleasesOwners: when the organization goes, its
// owners no longer hold its namespace's deletion back.
func TestOrganizationDeletionReleasesOwners(t *testing.T) {
	org := createOrganization(t, uniqueName("orgowners"))
	owner := createMembership(t, org.Status.Namespace, org.Name+"-owner@example.com", accessv1alpha1.RoleOwner)
	ownerGuarded(t, owner)
	if err := adminClient.Delete(testCtx, org); err != nil {
		t.Fatal(err)
	}
	eventually(t, "organization and its namespace gone", func() error {
		return errors.Join(goneErr(org.DeepCopy()), goneErr(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: org.Status.Namespace}}))
	})
	// What the namespace controller does (envtest runs none): delete what the namespace holds.
	if err := adminClient.Delete(testCtx, owner); client.IgnoreNotFound(err) != nil {
		t.Fatal(err)
	}
	eventually(t, "the owner Membership deleted", func() error {
		err := adminClient.Get(testCtx, client.ObjectKeyFromObject(owner), owner)
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there (finalizers %v): %w", owner.Finalizers, err)
	})
}
