package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/integrationpolicy"
	"github.com/tenantward/tenantward/internal/tenancy"
)

// IntegrationPolicyFieldManager is the server-side apply field manager of the
// integration-access controller. On Workspaces it owns only
// status.integrationAccess, so it never fights the Workspace controller over
// the rest of Workspace status (status.go).
const IntegrationPolicyFieldManager = "tenantward-integrationpolicy"

// +kubebuilder:rbac:groups=access.tenantward.io,resources=workspaces,verbs=list;watch
// +kubebuilder:rbac:groups=access.tenantward.io,resources=workspaces/status,verbs=patch
// +kubebuilder:rbac:groups=access.tenantward.io,resources=integrationpolicies,verbs=list;watch

// integrationAccessReconciler keeps each Workspace's status.integrationAccess
// (the effective integration access from the org policy and the workspace's
// override) in line with its IntegrationPolicies.
type integrationAccessReconciler struct {
	client.Client
}

// setupIntegrationAccess registers the controller; a policy change requeues
// every Workspace it affects.
func setupIntegrationAccess(mgr ctrl.Manager, _ Deps) error {
	r := &integrationAccessReconciler{Client: mgr.GetClient()}
	return ctrl.NewControllerManagedBy(mgr).
		Named("workspace-integrationaccess").
		For(&accessv1alpha1.Workspace{}).
		Watches(&accessv1alpha1.IntegrationPolicy{}, handler.EnqueueRequestsFromMapFunc(r.workspacesOfPolicy)).
		Complete(r)
}

// Reconcile applies a Workspace's status.integrationAccess when it changed.
func (r *integrationAccessReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ws := &accessv1alpha1.Workspace{}
	if err := r.Get(ctx, req.NamespacedName, ws); err != nil || !ws.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	effective, err := integrationpolicy.EffectiveIn(ctx, r.Client, ws.Namespace, tenancy.WorkspaceNamespace(ws))
	if err != nil {
		return ctrl.Result{}, err
	}
	if equality.Semantic.DeepEqual(effective, ws.Status.IntegrationAccess) {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{}, r.applyIntegrationAccess(ctx, ws, effective)
}

// applyIntegrationAccess server-side applies status.integrationAccess, and
// nothing else, to a Workspace's status as IntegrationPolicyFieldManager: the
// one status field with a second writer (status.go says why).
func (r *integrationAccessReconciler) applyIntegrationAccess(ctx context.Context, ws *accessv1alpha1.Workspace, access []accessv1alpha1.EffectiveIntegrationAccess) error {
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&accessv1alpha1.WorkspaceStatus{IntegrationAccess: access})
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{Object: map[string]any{"status": content}}
	u.SetGroupVersionKind(accessv1alpha1.GroupVersion.WithKind("Workspace"))
	u.SetName(ws.Name)
	u.SetNamespace(ws.Namespace)
	return r.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(IntegrationPolicyFieldManager), client.ForceOwnership)
}

// workspacesOfPolicy maps a policy to the Workspaces it affects.
func (r *integrationAccessReconciler) workspacesOfPolicy(ctx context.Context, pol client.Object) []reconcile.Request {
	var out []reconcile.Request
	for _, ws := range affectedWorkspaces(ctx, r.Client, pol) {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ws.Namespace, Name: ws.Name}})
	}
	return out
}
