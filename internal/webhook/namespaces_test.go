package webhook_test

import (
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/tenancy"
)

// These tests replay, as an organization admin, the placements of issue 10's
// first two items: a Workspace whose namespace is one the webhooks skip, or
// someone else's. Each is refused with the rule; the allowed twins work.

func TestWorkspaceNamespaceAttacksAreRefused(t *testing.T) {
	tn := newTenant(t)
	other := newTenant(t)
	orgAdmin := as(t, tn.admin)
	ws := func(namespace string) *v1.Workspace {
		return &v1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: unique("ws"), Namespace: tn.orgNS},
			Spec: v1.WorkspaceSpec{Organization: tn.org.Name, Namespace: namespace}}
	}
	who := fmt.Sprintf("user %q (organization admin in %s)", tn.admin, tn.org.Name)
	// The operator's namespace (local mode and the chart: where no webhook
	// looks), the cluster's own, and one the configuration excludes.
	for _, ns := range []string{"tenantward-system", "kube-public", "kube-system", "kube-node-lease", "default", "argocd"} {
		err := orgAdmin.Create(testCtx, ws(ns))
		denied(t, "admin places a workspace at "+ns, err, who, "spec.namespace", "namespace "+ns+" is reserved",
			"the namespaces the webhooks skip never become tenant namespaces")
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s: want 403 Forbidden, got %v", ns, err)
		}
		denied(t, "platform places a workspace at "+ns, admin.Create(testCtx, ws(ns)), "namespace "+ns+" is reserved")
	}
	// Another organization's namespaces, present or future: refused by the
	// API server itself (CEL), webhooks or not.
	for _, ns := range []string{other.orgNS, "org-not-yet-created", tenancy.WorkspaceNamespacePrefix(other.org.Name) + "x"} {
		err := orgAdmin.Create(testCtx, ws(ns))
		denied(t, "admin places a workspace at "+ns, err, `namespace must be <organization>--<suffix> when it contains "--" or starts with "org-"`)
		if !apierrors.IsInvalid(err) {
			t.Errorf("%s: want 422 Invalid, got %v", ns, err)
		}
	}
	// Any other name could be the platform's (monitoring): platform only.
	denied(t, "admin places a workspace at monitoring", orgAdmin.Create(testCtx, ws("monitoring")), who,
		"a workspace namespace a tenant chooses is "+tn.org.Name+"--<suffix>", "only a platform identity may place a workspace elsewhere", "monitoring requested")

	// The allowed twins: the tenant's own form, and the platform anywhere else.
	custom := ws(tenancy.WorkspaceNamespacePrefix(tn.org.Name) + "custom")
	allowed(t, "admin places a workspace at <org>--custom", orgAdmin.Create(testCtx, custom))
	waitNamespace(t, custom.Spec.Namespace)
	allowed(t, "platform places a workspace at a name of its choosing", admin.Create(testCtx, ws(unique("platform-placed"))))
}

func TestTenantsCannotStripFinalizers(t *testing.T) {
	tn := newTenant(t)
	eventually(t, "the operator's finalizers", func() error {
		for _, obj := range []client.Object{&v1.Organization{}, &v1.Workspace{}} {
			key := client.ObjectKeyFromObject(tn.org)
			if _, isWS := obj.(*v1.Workspace); isWS {
				key = client.ObjectKeyFromObject(tn.ws)
			}
			if err := admin.Get(testCtx, key, obj); err != nil {
				return err
			}
			if !controllerutil.ContainsFinalizer(obj, v1.Finalizer) {
				return fmt.Errorf("%s has no finalizer yet", key)
			}
		}
		return nil
	})
	owner := as(t, tn.owner)
	// The owner deletes the organization: deletionPolicy Refuse holds it while
	// its workspace remains. Stripping the finalizer would let it vanish with
	// its namespaces, keys and Memberships left behind.
	allowed(t, "owner deletes the organization", owner.Delete(testCtx, tn.org.DeepCopy()))
	org := tn.org.DeepCopy()
	err := updateAs(owner, org, func() { controllerutil.RemoveFinalizer(org, v1.Finalizer) })
	denied(t, "owner strips the organization's finalizer", err,
		fmt.Sprintf("user %q (organization owner in %s)", tn.owner, tn.org.Name), "metadata.finalizers",
		"the finalizer "+v1.Finalizer+" is removed only by the operator")
	if !apierrors.IsForbidden(err) {
		t.Errorf("want 403 Forbidden, got %v", err)
	}
	// A merge patch that empties the list is the same update.
	patch := []byte(`{"metadata":{"finalizers":null}}`)
	denied(t, "owner patches the finalizers away", owner.Patch(testCtx, tn.org.DeepCopy(), client.RawPatch("application/merge-patch+json", patch)),
		"is removed only by the operator")
	ws := tn.ws.DeepCopy()
	denied(t, "admin strips the workspace's finalizer", updateAs(as(t, tn.admin), ws, func() { controllerutil.RemoveFinalizer(ws, v1.Finalizer) }),
		fmt.Sprintf("user %q (organization admin in %s)", tn.admin, tn.org.Name), "is removed only by the operator")
	if err := admin.Get(testCtx, client.ObjectKeyFromObject(tn.org), org); err != nil || !controllerutil.ContainsFinalizer(org, v1.Finalizer) {
		t.Fatalf("the organization must still be held by its finalizer: %v", err)
	}

	// The allowed twins: tenants change other metadata; platform identities
	// (the operator among them) remove the finalizer.
	ws = tn.ws.DeepCopy()
	allowed(t, "admin labels the workspace", updateAs(as(t, tn.admin), ws, func() { ws.Labels = map[string]string{"team": "blue"} }))
	allowed(t, "platform strips the finalizer (dry run)", admin.Patch(testCtx, tn.org.DeepCopy(), client.RawPatch("application/merge-patch+json", patch), client.DryRunAll))
}

// TestForegroundDeletionKeepsDeletionPolicy: the namespaces name their
// Organization as owner, so a foreground deletion would let the garbage
// collector delete them before the finalizer refuses (deletionPolicy Refuse).
func TestForegroundDeletionKeepsDeletionPolicy(t *testing.T) {
	tn := newTenant(t)
	owner := as(t, tn.owner)
	denied(t, "owner deletes in the foreground", owner.Delete(testCtx, tn.org.DeepCopy(), client.PropagationPolicy(metav1.DeletePropagationForeground), client.DryRunAll),
		fmt.Sprintf("user %q (organization owner in %s)", tn.owner, tn.org.Name), "spec.deletionPolicy", "not deleted in the foreground")
	denied(t, "platform deletes in the foreground", admin.Delete(testCtx, tn.org.DeepCopy(), client.PropagationPolicy(metav1.DeletePropagationForeground), client.DryRunAll),
		"not deleted in the foreground")
	allowed(t, "owner deletes in the background", owner.Delete(testCtx, tn.org.DeepCopy(), client.PropagationPolicy(metav1.DeletePropagationBackground), client.DryRunAll))
	org := tn.org.DeepCopy()
	allowed(t, "owner sets Cascade", updateAs(owner, org, func() { org.Spec.DeletionPolicy = v1.DeletionCascade }))
	allowed(t, "owner deletes a Cascade organization in the foreground", owner.Delete(testCtx, org, client.PropagationPolicy(metav1.DeletePropagationForeground), client.DryRunAll))
}
