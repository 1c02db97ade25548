package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/audit"
	"github.com/tenantward/tenantward/internal/tenancy"
)

// namespaceDeps are what creating and deleting a tenant namespace needs.
type namespaceDeps struct {
	c         client.Client
	apiReader client.Reader
	events    events.EventRecorder
	audit     audit.Recorder
	reserved  tenancy.Reserved
}

// usable returns an error naming the problem when name may not be a tenant
// namespace: not a valid name, or reserved. The webhooks refuse both; this is
// the defense when they are bypassed.
func (d namespaceDeps) usable(name string) error {
	if err := tenancy.ValidNamespace(name); err != nil {
		return err
	}
	return d.reserved.Check(name)
}

// get reads a namespace from the cache or, as the cache holds only the
// operator's namespaces, from the API server.
func (d namespaceDeps) get(ctx context.Context, name string) (*corev1.Namespace, error) {
	ns := &corev1.Namespace{}
	err := d.c.Get(ctx, client.ObjectKey{Name: name}, ns)
	if apierrors.IsNotFound(err) {
		err = d.apiReader.Get(ctx, client.ObjectKey{Name: name}, ns)
	}
	return ns, err
}

// owns reports whether the namespace exists and was made for owner (the same
// UID): a namespace left by an earlier object of the same name is not owner's.
func (d namespaceDeps) owns(ctx context.Context, name string, owner tenancy.Owner) (bool, error) {
	ns, err := d.get(ctx, name)
	if err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return tenancy.ClaimError(ns, owner) == nil, nil
}

// deletable reports whether the operator may delete ns: it made ns for owner
// (the same UID) and ns is not reserved.
func (d namespaceDeps) deletable(ns *corev1.Namespace, owner tenancy.Owner) bool {
	return tenancy.ClaimError(ns, owner) == nil && d.reserved.Check(ns.Name) == nil
}

// claimError is a namespace clash: the user must resolve it.
type claimError struct{ error }

func (e *claimError) Unwrap() error { return e.error }

// ensureNamespace creates the namespace of owner with server-side apply, or
// finds it already made for owner (the same UID). The namespace records
// owner's UID (tenantward.io/owner-uid) and is owned by org (an owner
// reference), so that the garbage collector removes it should org vanish
// without the operator's cleanup. It writes nothing when the namespace exists
// and is owner's, so labels others add (Argo CD, Flux) stay.
func ensureNamespace(ctx context.Context, d namespaceDeps, obj client.Object, name string, owner tenancy.Owner, org *accessv1alpha1.Organization) error {
	ns, err := d.get(ctx, name)
	switch {
	case err == nil:
		if cerr := tenancy.ClaimError(ns, owner); cerr != nil {
			if !hasReason(obj, reasonNamespaceConflict) {
				announce(ctx, d.events, obj, nil, corev1.EventTypeWarning, reasonNamespaceConflict, "CreateNamespace", cerr.Error())
			}
			return &claimError{cerr}
		}
		if !ns.DeletionTimestamp.IsZero() {
			return fmt.Errorf("namespace %s is still terminating", name)
		}
		return nil
	case !apierrors.IsNotFound(err):
		return err
	}
	gvk := accessv1alpha1.GroupVersion.WithKind("Organization")
	apply := corev1ac.Namespace(name).
		WithLabels(tenancy.Labels(owner.Organization, owner.Workspace)).
		WithAnnotations(map[string]string{accessv1alpha1.AnnotationOwnerUID: string(owner.UID)}).
		WithOwnerReferences(metav1ac.OwnerReference().WithAPIVersion(gvk.GroupVersion().String()).WithKind(gvk.Kind).
			WithName(org.Name).WithUID(org.UID).WithController(true))
	if err := d.c.Apply(ctx, apply, client.FieldOwner(accessv1alpha1.FieldManager), client.ForceOwnership); err != nil {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	ns.Name, ns.Labels = name, tenancy.Labels(owner.Organization, owner.Workspace)
	rec := audit.OperatorAction(audit.ActionNamespaceCreated, corev1.SchemeGroupVersion.WithKind("Namespace"), ns, "namespace of "+owner.String())
	d.audit.Record(ctx, rec)
	announce(ctx, d.events, obj, nil, corev1.EventTypeNormal, audit.EventReason(rec.Action), "CreateNamespace", "created namespace "+name)
	return nil
}

// deleteNamespace deletes the namespace of owner if the operator made it for
// owner (the same UID) and it is not reserved; any other namespace is left
// alone. The APIKeys in it go first, so that they stop verifying at once even
// where no namespace controller empties the namespace, then the operator's
// RoleBindings, then the namespace with everything else in it.
func deleteNamespace(ctx context.Context, d namespaceDeps, obj client.Object, name string, owner tenancy.Owner) error {
	ns := &corev1.Namespace{}
	if err := d.apiReader.Get(ctx, client.ObjectKey{Name: name}, ns); err != nil {
		return client.IgnoreNotFound(err)
	}
	if !ns.DeletionTimestamp.IsZero() || !d.deletable(ns, owner) {
		return nil
	}
	keys := &accessv1alpha1.APIKeyList{}
	if err := d.c.List(ctx, keys, client.InNamespace(name)); err != nil {
		return err
	}
	for i := range keys.Items {
		if err := d.c.Delete(ctx, &keys.Items[i]); client.IgnoreNotFound(err) != nil {
			return err
		}
	}
	managed := client.MatchingLabels{accessv1alpha1.LabelManagedBy: accessv1alpha1.ManagedByValue}
	if err := d.c.DeleteAllOf(ctx, &rbacv1.RoleBinding{}, client.InNamespace(name), managed); err != nil {
		return err
	}
	if err := d.c.Delete(ctx, ns, client.Preconditions{UID: &ns.UID}); client.IgnoreNotFound(err) != nil {
		return err
	}
	rec := audit.OperatorAction(audit.ActionNamespaceDeleted, corev1.SchemeGroupVersion.WithKind("Namespace"), ns, owner.String()+" deleted")
	d.audit.Record(ctx, rec)
	announce(ctx, d.events, obj, nil, corev1.EventTypeNormal, audit.EventReason(rec.Action), "DeleteNamespace", "deleted namespace "+name)
	return nil
}
