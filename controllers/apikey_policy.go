package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/keypolicy"
	"github.com/tenantward/tenantward/internal/tenancy"
)

// effectivePolicy sets the key's status.rateLimits and status.models, which
// the verifier enforces, from its spec and the key policies of its
// workspace (ws, empty for an admin key) and organization
// (internal/keypolicy). A Workspace or Organization that is not there (yet)
// contributes nothing; its creation or change brings the key back here
// (keysOfWorkspace, keysOfOrganization).
func (r *apiKeyReconciler) effectivePolicy(ctx context.Context, key *accessv1alpha1.APIKey, org, ws string) error {
	var orgPolicy, wsPolicy *accessv1alpha1.KeyPolicy
	o := &accessv1alpha1.Organization{}
	err := r.Get(ctx, client.ObjectKey{Name: org}, o)
	if client.IgnoreNotFound(err) != nil {
		return err
	}
	if err == nil {
		orgPolicy = o.Spec.APIKeys
		if ws != "" {
			w := &accessv1alpha1.Workspace{}
			err := r.Get(ctx, client.ObjectKey{Namespace: tenancy.OrgNamespace(o), Name: ws}, w)
			if client.IgnoreNotFound(err) != nil {
				return err
			}
			if err == nil && w.Spec.Organization == org && w.Spec.APIKeys != nil {
				wsPolicy = &w.Spec.APIKeys.KeyPolicy
			}
		}
	}
	eff := keypolicy.Of(&key.Spec, wsPolicy, orgPolicy)
	key.Status.RateLimits, key.Status.Models = eff.RateLimits, eff.Models
	return nil
}

// keyPolicyChanged passes creations, deletions and the updates that change a
// Workspace's or Organization's spec.apiKeys.
var keyPolicyChanged = builder.WithPredicates(predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
	switch o := e.ObjectOld.(type) {
	case *accessv1alpha1.Organization:
		n, ok := e.ObjectNew.(*accessv1alpha1.Organization)
		return !ok || !equality.Semantic.DeepEqual(o.Spec.APIKeys, n.Spec.APIKeys)
	case *accessv1alpha1.Workspace:
		n, ok := e.ObjectNew.(*accessv1alpha1.Workspace)
		return !ok || !equality.Semantic.DeepEqual(o.Spec.APIKeys, n.Spec.APIKeys)
	}
	return true
}})

// keysOfWorkspace maps a Workspace to the APIKeys of its namespace.
func (r *apiKeyReconciler) keysOfWorkspace(ctx context.Context, obj client.Object) []reconcile.Request {
	w, ok := obj.(*accessv1alpha1.Workspace)
	if !ok {
		return nil
	}
	return r.keysIn(ctx, nil, tenancy.WorkspaceNamespace(w))
}

// keysOfOrganization maps an Organization to its admin keys and the keys of
// every one of its Workspaces.
func (r *apiKeyReconciler) keysOfOrganization(ctx context.Context, obj client.Object) []reconcile.Request {
	o, ok := obj.(*accessv1alpha1.Organization)
	if !ok {
		return nil
	}
	reqs := r.keysIn(ctx, nil, tenancy.OrgNamespace(o))
	workspaces, err := workspacesOf(ctx, r.Client, o)
	if err != nil {
		return reqs
	}
	for i := range workspaces {
		reqs = r.keysIn(ctx, reqs, tenancy.WorkspaceNamespace(&workspaces[i]))
	}
	return reqs
}

// keysIn appends a request for each APIKey of namespace ns to reqs.
func (r *apiKeyReconciler) keysIn(ctx context.Context, reqs []reconcile.Request, ns string) []reconcile.Request {
	keys := &accessv1alpha1.APIKeyList{}
	if err := r.List(ctx, keys, client.InNamespace(ns)); err != nil {
		return reqs
	}
	for i := range keys.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&keys.Items[i])})
	}
	return reqs
}
