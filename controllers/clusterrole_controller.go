package controllers

import (
	"context"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/authz"
)

// clusterRoleReconciler keeps the generated tenant ClusterRoles as the
// permission table and feature map say.
type clusterRoleReconciler struct {
	client.Client
	features authz.FeatureMap
}

func setupClusterRole(mgr ctrl.Manager, d Deps) error {
	r := &clusterRoleReconciler{Client: mgr.GetClient(), features: d.Config.Features}
	always := func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{generatedRolesKey}
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("clusterrole").
		Watches(&rbacv1.ClusterRole{}, handler.EnqueueRequestsFromMapFunc(always), managedOnly).
		// The first Organization (and each new one) makes sure the roles exist.
		Watches(&accessv1alpha1.Organization{}, handler.EnqueueRequestsFromMapFunc(always), builder.WithPredicates(predicate.Funcs{
			UpdateFunc:  func(event.UpdateEvent) bool { return false },
			DeleteFunc:  func(event.DeleteEvent) bool { return false },
			GenericFunc: func(event.GenericEvent) bool { return false },
		})).
		Complete(r)
}

// generatedRolesKey is the one request of the ClusterRole controller.
var generatedRolesKey = reconcile.Request{NamespacedName: types.NamespacedName{Name: "tenantward-generated-clusterroles"}}

// Reconcile applies the generated ClusterRoles that differ from the cache and
// deletes generated ones the table no longer has.
func (r *clusterRoleReconciler) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	list := &rbacv1.ClusterRoleList{}
	if err := r.List(ctx, list, client.MatchingLabels{accessv1alpha1.LabelManagedBy: accessv1alpha1.ManagedByValue}); err != nil {
		return ctrl.Result{}, err
	}
	var existing, desired []*rbacv1.ClusterRole
	for _, cr := range pointers(list.Items) {
		if cr.Labels[accessv1alpha1.LabelOrganization] == "" { // not an organization's own
			existing = append(existing, cr)
		}
	}
	for _, want := range authz.ClusterRoles(r.features) {
		desired = append(desired, &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: want.Name, Labels: map[string]string{accessv1alpha1.LabelManagedBy: accessv1alpha1.ManagedByValue}},
			Rules:      want.Rules,
		})
	}
	return ctrl.Result{}, syncOwned(ctx, r.Client, clusterRoles(existing, desired))
}
