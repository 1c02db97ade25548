package controllers_test

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
)

// conditionErr is nil when obj's Ready condition has the given reason and a
// message containing msg.
func conditionErr(conds []metav1.Condition, reason, msg string) error {
	c := meta.FindStatusCondition(conds, accessv1alpha1.ConditionReady)
	if c == nil || c.Reason != reason || !strings.Contains(c.Message, msg) {
		return fmt.Errorf("Ready condition %+v, want reason %s with %q", c, reason, msg)
	}
	return nil
}

// eventErr is nil when an Event with reason regards the named object.
func eventErr(namespace, name, reason string) error {
	list := &eventsv1.EventList{}
	if err := adminClient.List(testCtx, list, client.InNamespace(namespace)); err != nil {
		return err
	}
	for _, e := range list.Items {
		if e.Regarding.Name == name && e.Reason == reason {
			return nil
		}
	}
	return fmt.Errorf("no %s event for %s in %q", reason, name, namespace)
}

// goneErr is nil once obj no longer exists or is terminating (envtest runs no
// namespace controller, so a deleted namespace stays Terminating).
func goneErr(obj client.Object) error {
	err := adminClient.Get(testCtx, client.ObjectKeyFromObject(obj), obj)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, isNS := obj.(*corev1.Namespace); isNS && !obj.GetDeletionTimestamp().IsZero() {
		return nil
	}
	return fmt.Errorf("%s still exists", obj.GetName())
}

// bindingSubjects returns the user names a generated RoleBinding lists, or an error.
func bindingSubjects(ns, name string) ([]string, *rbacv1.RoleBinding, error) {
	rb := &rbacv1.RoleBinding{}
	if err := adminClient.Get(testCtx, client.ObjectKey{Namespace: ns, Name: name}, rb); err != nil {
		return nil, nil, err
	}
	var out []string
	for _, s := range rb.Subjects {
		out = append(out, s.Name)
	}
	return out, rb, nil
}

func TestWorkspaceNamespaceGetsOrgRoleBindings(t *testing.T) {
	org := createOrganization(t, uniqueName("wsorg"))
	owner := org.Name + "-owner@example.com"
	createMembership(t, org.Status.Namespace, owner, accessv1alpha1.RoleOwner)

	// A workspace made after the org Membership gets the owner's binding without
	// anyone touching the Membership.
	ws := createWorkspace(t, org, "research")
	if ws.Status.Namespace != org.Name+"--research" {
		t.Fatalf("status.namespace = %q", ws.Status.Namespace)
	}
	ns := &corev1.Namespace{}
	if err := adminClient.Get(testCtx, client.ObjectKey{Name: ws.Status.Namespace}, ns); err != nil {
		t.Fatal(err)
	}
	if ns.Labels[accessv1alpha1.LabelOrganization] != org.Name || ns.Labels[accessv1alpha1.LabelWorkspace] != "research" {
		t.Errorf("workspace namespace labels: %v", ns.Labels)
	}
	eventually(t, "owner binding in the workspace namespace", func() error {
		subjects, _, err := bindingSubjects(ws.Status.Namespace, "tenantward:organization:owner")
		if err != nil {
			return err
		}
		if len(subjects) != 1 || subjects[0] != owner {
			return fmt.Errorf("subjects %v", subjects)
		}
		return nil
	})
}

func TestWorkspaceInAnotherOrganizationsNamespaceIsRefused(t *testing.T) {
	a := createOrganization(t, uniqueName("owner-org"))
	b := createOrganization(t, uniqueName("other-org"))
	ws := &accessv1alpha1.Workspace{
		ObjectMeta: metav1.ObjectMeta{Name: "sneaky", Namespace: b.Status.Namespace},
		Spec:       accessv1alpha1.WorkspaceSpec{Organization: a.Name},
	}
	if err := adminClient.Create(testCtx, ws); err != nil {
		t.Fatal(err)
	}
	eventually(t, "OrganizationMismatch", func() error {
		if err := adminClient.Get(testCtx, client.ObjectKeyFromObject(ws), ws); err != nil {
			return err
		}
		return conditionErr(ws.Status.Conditions, "OrganizationMismatch", "organization "+a.Name+"'s namespace is "+a.Status.Namespace)
	})
	if err := adminClient.Get(testCtx, client.ObjectKey{Name: a.Name + "--sneaky"}, &corev1.Namespace{}); !apierrors.IsNotFound(err) {
		t.Errorf("no namespace may be made for a mismatched workspace: %v", err)
	}
}

func TestWorkspaceDeletionRefusedWhileItHasMembers(t *testing.T) {
	org := createOrganization(t, uniqueName("wsdel"))
	ws := createWorkspace(t, org, "temp")
	m := createMembership(t, ws.Status.Namespace, "temp-member@example.com", accessv1alpha1.RoleMember)
	if err := adminClient.Delete(testCtx, ws); err != nil {
		t.Fatal(err)
	}
	eventually(t, "DeletionBlocked condition and event", func() error {
		if err := adminClient.Get(testCtx, client.ObjectKeyFromObject(ws), ws); err != nil {
			return err
		}
		if err := conditionErr(ws.Status.Conditions, "DeletionBlocked", "still holds 1 memberships"); err != nil {
			return err
		}
		return eventErr(ws.Namespace, ws.Name, "DeletionBlocked")
	})
	// Access stays while the deletion is refused.
	if _, _, err := bindingSubjects(ws.Status.Namespace, "tenantward:workspace:member"); err != nil {
		t.Fatalf("binding removed while the deletion is refused: %v", err)
	}

	if err := adminClient.Delete(testCtx, m); err != nil {
		t.Fatal(err)
	}
	eventually(t, "workspace and its namespace gone", func() error {
		if err := goneErr(ws.DeepCopy()); err != nil {
			return err
		}
		return goneErr(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ws.Status.Namespace}})
	})
	eventually(t, "no RoleBinding left in the workspace namespace", func() error {
		list := &rbacv1.RoleBindingList{}
		if err := adminClient.List(testCtx, list, client.InNamespace(ws.Status.Namespace)); err != nil {
			return err
		}
		if len(list.Items) > 0 {
			return fmt.Errorf("%d RoleBindings left", len(list.Items))
		}
		return nil
	})
}

func TestOrganizationDeletionRefusedThenCascades(t *testing.T) {
	org := createOrganization(t, uniqueName("orgdel"))
	ws := createWorkspace(t, org, "child")
	createMembership(t, org.Status.Namespace, org.Name+"-owner@example.com", accessv1alpha1.RoleOwner)
	createMembership(t, ws.Status.Namespace, org.Name+"-ws@example.com", accessv1alpha1.RoleManager)
	crbName := "tenantward:organization:" + org.Name + ":owner"
	eventually(t, "ClusterRoleBinding on the Organization", func() error {
		return adminClient.Get(testCtx, client.ObjectKey{Name: crbName}, &rbacv1.ClusterRoleBinding{})
	})

	if err := adminClient.Delete(testCtx, org); err != nil {
		t.Fatal(err)
	}
	eventually(t, "org DeletionBlocked condition and event", func() error {
		if err := adminClient.Get(testCtx, client.ObjectKeyFromObject(org), org); err != nil {
			return err
		}
		if err := conditionErr(org.Status.Conditions, "DeletionBlocked", "still has 1 workspaces (child)"); err != nil {
			return err
		}
		return eventErr("default", org.Name, "DeletionBlocked")
	})

	patch := client.MergeFrom(org.DeepCopy())
	org.Spec.DeletionPolicy = accessv1alpha1.DeletionCascade
	if err := adminClient.Patch(testCtx, org, patch); err != nil {
		t.Fatal(err)
	}
	eventually(t, "organization, workspace, namespaces and cluster RBAC gone", func() error {
		for _, obj := range []client.Object{
			org.DeepCopy(), ws.DeepCopy(),
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: org.Status.Namespace}},
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ws.Status.Namespace}},
			&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: crbName}},
			&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: crbName}},
		} {
			if err := goneErr(obj); err != nil {
				return err
			}
		}
		return nil
	})
	for _, ns := range []string{org.Status.Namespace, ws.Status.Namespace} {
		list := &rbacv1.RoleBindingList{}
		if err := adminClient.List(testCtx, list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		if len(list.Items) > 0 {
			t.Errorf("%d RoleBindings left in %s", len(list.Items), ns)
		}
	}
}
