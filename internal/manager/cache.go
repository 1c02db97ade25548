package manager

import (
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
)

// cacheOptions keep the manager's memory proportional to what the operator
// owns: of the kinds every cluster is full of (namespaces, RBAC, Secrets) the
// informers hold only objects labelled app.kubernetes.io/managed-by=tenantward,
// and no object keeps its managedFields in memory. The operator's own kinds are
// cached whole. A namespace the operator does not own is read directly when it
// must be (a name clash), never cached.
func cacheOptions() cache.Options {
	managed := cache.ByObject{Label: labels.SelectorFromSet(labels.Set{accessv1alpha1.LabelManagedBy: accessv1alpha1.ManagedByValue})}
	return cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Namespace{}:          managed,
			&corev1.Secret{}:             managed,
			&rbacv1.RoleBinding{}:        managed,
			&rbacv1.ClusterRole{}:        managed,
			&rbacv1.ClusterRoleBinding{}: managed,
		},
	}
}
