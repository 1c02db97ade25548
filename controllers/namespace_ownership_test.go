package controllers_test

import (
	"fmt"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/tenancy"
)

// This package runs no webhooks: these tests are the controllers' own
// defense, for when the webhooks are bypassed (down, or a namespace they skip).

// waitCondition waits until obj's Ready condition has reason and a message
// containing msg.
func waitCondition(t *testing.T, obj client.Object, conds func() []metav1.Condition, reason, msg string) {
	t.Helper()
	eventually(t, reason+" on "+obj.GetName(), func() error {
		if err := adminClient.Get(testCtx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		return conditionErr(conds(), reason, msg)
	})
}

// untouched fails unless the namespace does not exist or exists without any
// of the operator's marks and is not being deleted.
func untouched(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{}
	err := adminClient.Get(testCtx, client.ObjectKey{Name: name}, ns)
	if apierrors.IsNotFound(err) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if ns.Labels[accessv1alpha1.LabelManagedBy] == accessv1alpha1.ManagedByValue && ns.Annotations[accessv1alpha1.AnnotationOwnerUID] != "" {
		t.Errorf("namespace %s was made or marked by the operator: %v %v", name, ns.Labels, ns.Annotations)
	}
	if !ns.DeletionTimestamp.IsZero() {
		t.Errorf("namespace %s is being deleted", name)
	}
}

func TestReservedNamespacesNeverBecomeTenantNamespaces(t *testing.T) {
	// The operator's namespace, the cluster's own and one the configuration
	// excludes from the webhooks (testConfig: argocd).
	for _, ns := range []string{"tenantward-system", "kube-public", "default", "argocd"} {
		org := &accessv1alpha1.Organization{ObjectMeta: metav1.ObjectMeta{Name: uniqueName("reserved")}, Spec: accessv1alpha1.OrganizationSpec{Namespace: ns}}
		if err := adminClient.Create(testCtx, org); err != nil {
			t.Fatal(err)
		}
		waitCondition(t, org, func() []metav1.Condition { return org.Status.Conditions }, "InvalidNamespace", "namespace "+ns+" is reserved")
		untouched(t, ns)
	}

	org := createOrganization(t, uniqueName("reserved-ws"))
	for _, ns := range []string{"tenantward-system", "kube-node-lease", "kube-anything", "argocd"} {
		ws := &accessv1alpha1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: uniqueName("ws"), Namespace: org.Status.Namespace},
			Spec: accessv1alpha1.WorkspaceSpec{Organization: org.Name, Namespace: ns, DeletionPolicy: accessv1alpha1.DeletionCascade}}
		if err := adminClient.Create(testCtx, ws); err != nil {
			t.Fatal(err)
		}
		waitCondition(t, ws, func() []metav1.Condition { return ws.Status.Conditions }, "InvalidNamespace", "namespace "+ns+" is reserved")
		untouched(t, ns)
		// Cascade deletion of such a workspace deletes nothing of the namespace.
		if err := adminClient.Delete(testCtx, ws); err != nil {
			t.Fatal(err)
		}
		eventually(t, "workspace gone", func() error { return goneErr(ws.DeepCopy()) })
		untouched(t, ns)
	}
}

func TestNamespacesRecordTheirOwner(t *testing.T) {
	org := createOrganization(t, uniqueName("owned"))
	ws := createWorkspace(t, org, "team")
	for _, c := range []struct {
		ns  string
		uid string
	}{{org.Status.Namespace, string(org.UID)}, {ws.Status.Namespace, string(ws.UID)}} {
		ns := &corev1.Namespace{}
		if err := adminClient.Get(testCtx, client.ObjectKey{Name: c.ns}, ns); err != nil {
			t.Fatal(err)
		}
		if got := ns.Annotations[accessv1alpha1.AnnotationOwnerUID]; got != c.uid {
			t.Errorf("%s: %s = %q, want %q", c.ns, accessv1alpha1.AnnotationOwnerUID, got, c.uid)
		}
		refs := ns.OwnerReferences
		if len(refs) != 1 || refs[0].Kind != "Organization" || refs[0].Name != org.Name || refs[0].UID != org.UID {
			t.Errorf("%s: ownerReferences %+v, want the Organization %s (%s)", c.ns, refs, org.Name, org.UID)
		}
	}
}

// TestRecreatedOrganizationInheritsNothing replays item 9 of issue 10: an
// organization vanishes without the operator's cleanup (its finalizer
// stripped: only a platform identity still can), and a new Organization of the
// same name is made. It gets neither the old namespace, nor its Memberships,
// master key, workspaces or RBAC.
func TestRecreatedOrganizationInheritsNothing(t *testing.T) {
	name := uniqueName("reborn")
	old := createOrganization(t, name)
	ws := createWorkspace(t, old, "team")
	oldOwner := name + "-owner@example.com"
	createMembership(t, old.Status.Namespace, oldOwner, accessv1alpha1.RoleOwner)
	eventually(t, "master key", func() error {
		return adminClient.Get(testCtx, client.ObjectKey{Namespace: old.Status.Namespace, Name: "master"}, &accessv1alpha1.APIKey{})
	})
	updateOrg := authorizationv1.ResourceAttributes{Verb: "update", Group: accessv1alpha1.GroupVersion.Group, Resource: "organizations", Name: name}
	if !canI(t, oldOwner, updateOrg) {
		t.Fatal("the owner must be able to update the organization")
	}

	// Deleted with deletionPolicy Refuse, it waits for its workspace; then its
	// finalizer is stripped.
	if err := adminClient.Delete(testCtx, old); err != nil {
		t.Fatal(err)
	}
	if err := adminClient.Get(testCtx, client.ObjectKeyFromObject(old), old); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(old.DeepCopy())
	controllerutil.RemoveFinalizer(old, accessv1alpha1.Finalizer)
	if err := adminClient.Patch(testCtx, old, patch); err != nil {
		t.Fatal(err)
	}
	eventually(t, "old organization gone", func() error { return goneErr(old.DeepCopy()) })

	reborn := &accessv1alpha1.Organization{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := adminClient.Create(testCtx, reborn); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, reborn, func() []metav1.Condition { return reborn.Status.Conditions }, "NamespaceConflict",
		"was made for another organization "+name+" of the same name")
	if reborn.Status.Namespace != "" || reborn.Status.MasterKeyName != "" {
		t.Errorf("the new organization took over namespace %q and master key %q", reborn.Status.Namespace, reborn.Status.MasterKeyName)
	}
	waitCondition(t, ws, func() []metav1.Condition { return ws.Status.Conditions }, "OrganizationMismatch",
		"left by another organization of that name")
	eventually(t, "the old owner's RBAC on the organization name is gone", func() error {
		if canI(t, oldOwner, updateOrg) {
			return fmt.Errorf("%s may still update organization %s", oldOwner, name)
		}
		crb := "tenantward:organization:" + name + ":owner"
		if err := adminClient.Get(testCtx, client.ObjectKey{Name: crb}, &rbacv1.ClusterRoleBinding{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("ClusterRoleBinding %s still there (err %w)", crb, err)
		}
		return nil
	})

	// Deleting the new organization deletes nothing of the old one's.
	if err := adminClient.Delete(testCtx, reborn); err != nil {
		t.Fatal(err)
	}
	eventually(t, "new organization gone", func() error { return goneErr(reborn.DeepCopy()) })
	for _, nsName := range []string{old.Status.Namespace, ws.Status.Namespace} {
		ns := &corev1.Namespace{}
		if err := adminClient.Get(testCtx, client.ObjectKey{Name: nsName}, ns); err != nil || !ns.DeletionTimestamp.IsZero() {
			t.Errorf("namespace %s of the old organization must be left alone: err %v, deletionTimestamp %v", nsName, err, ns.DeletionTimestamp)
		}
	}
}

// TestCascadeDeletesOnlyWhatTheOperatorMade replays item 2 of issue 10: a
// Cascade workspace placed at a namespace someone else made (the platform's
// monitoring), or at one carrying the operator's labels but made for no one
// (forged labels, no matching owner UID). Deleting the workspace deletes
// neither. Its allowed twin: a workspace's own namespace goes, its APIKeys first.
func TestCascadeDeletesOnlyWhatTheOperatorMade(t *testing.T) {
	org := createOrganization(t, uniqueName("cascade"))
	monitoring := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: uniqueName("monitoring")}}
	forged := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: tenancy.WorkspaceNamespacePrefix(org.Name) + "forged",
		Labels: tenancy.Labels(org.Name, "forged")}}
	for _, c := range []struct {
		ns  *corev1.Namespace
		msg string
	}{{monitoring, "not managed by tenantward"}, {forged, "was made for another workspace forged"}} {
		if err := adminClient.Create(testCtx, c.ns); err != nil {
			t.Fatal(err)
		}
		wsName := c.ns.Labels[accessv1alpha1.LabelWorkspace]
		if wsName == "" {
			wsName = uniqueName("squat")
		}
		ws := &accessv1alpha1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: wsName, Namespace: org.Status.Namespace},
			Spec: accessv1alpha1.WorkspaceSpec{Organization: org.Name, Namespace: c.ns.Name, DeletionPolicy: accessv1alpha1.DeletionCascade}}
		if err := adminClient.Create(testCtx, ws); err != nil {
			t.Fatal(err)
		}
		waitCondition(t, ws, func() []metav1.Condition { return ws.Status.Conditions }, "NamespaceConflict", c.msg)
		if err := adminClient.Delete(testCtx, ws); err != nil {
			t.Fatal(err)
		}
		eventually(t, "workspace gone", func() error { return goneErr(ws.DeepCopy()) })
		ns := &corev1.Namespace{}
		if err := adminClient.Get(testCtx, client.ObjectKeyFromObject(c.ns), ns); err != nil || !ns.DeletionTimestamp.IsZero() {
			t.Errorf("namespace %s must survive: err %v, deletionTimestamp %v", c.ns.Name, err, ns.DeletionTimestamp)
		}
	}

	ws := createWorkspace(t, org, "own", func(w *accessv1alpha1.Workspace) { w.Spec.DeletionPolicy = accessv1alpha1.DeletionCascade })
	key := &accessv1alpha1.APIKey{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ws.Status.Namespace}}
	if err := adminClient.Create(testCtx, key); err != nil {
		t.Fatal(err)
	}
	if err := adminClient.Delete(testCtx, ws); err != nil {
		t.Fatal(err)
	}
	// envtest runs no namespace controller: the key is gone because the
	// operator deleted it, as it stops verifying at once in any cluster.
	eventually(t, "workspace, its APIKey and its namespace gone", func() error {
		for _, obj := range []client.Object{ws.DeepCopy(), key.DeepCopy(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ws.Status.Namespace}}} {
			if err := goneErr(obj); err != nil {
				return err
			}
		}
		return nil
	})
}
