package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/tenancy"
)

// orgOfLabels maps an object carrying the organization label to its Organization.
func orgOfLabels(_ context.Context, obj client.Object) []reconcile.Request {
	if org := obj.GetLabels()[accessv1alpha1.LabelOrganization]; org != "" {
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: org}}}
	}
	return nil
}

// orgOfWorkspace maps a Workspace to its Organization.
func orgOfWorkspace(_ context.Context, obj client.Object) []reconcile.Request {
	if w, ok := obj.(*accessv1alpha1.Workspace); ok && w.Spec.Organization != "" {
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: w.Spec.Organization}}}
	}
	return nil
}

// orgOfNamespace maps an object to the Organization owning its namespace.
func orgOfNamespace(c client.Reader) handler.MapFunc {
	return func(ctx context.Context, obj client.Object) []reconcile.Request {
		ns := &corev1.Namespace{}
		if err := c.Get(ctx, client.ObjectKey{Name: obj.GetNamespace()}, ns); err != nil {
			return nil
		}
		if owner, ok := tenancy.OwnerOf(ns); ok {
			return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: owner.Organization}}}
		}
		return nil
	}
}

// orgOfName maps an Organization to its own request.
func orgOfName(_ context.Context, obj client.Object) []reconcile.Request {
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: obj.GetName()}}}
}

// managedOnly passes the events of objects labelled as the operator's.
var managedOnly = builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
	return o.GetLabels()[accessv1alpha1.LabelManagedBy] == accessv1alpha1.ManagedByValue
}))

// countOnly passes the events of objects that status counts: their creation
// and deletion, not their updates.
var countOnly = builder.WithPredicates(predicate.Funcs{UpdateFunc: func(event.UpdateEvent) bool { return false }})
