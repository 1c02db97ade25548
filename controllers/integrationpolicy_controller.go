package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/integrationpolicy"
	"github.com/tenantward/tenantward/internal/tenancy"
)

// Condition types and reasons of IntegrationPolicy.
const (
	// ConditionOverrideRejected is True when a workspace policy sets a type the
	// organization does not open to override.
	ConditionOverrideRejected = accessv1alpha1.ConditionOverrideRejected

	reasonApplied          = accessv1alpha1.ReasonApplied
	reasonOverrideNotOpen  = accessv1alpha1.ReasonOverrideNotAllowed
	reasonNoRejection      = accessv1alpha1.ReasonAllOverridesAllowed
	reasonNotTenant        = accessv1alpha1.ReasonNotTenantNamespace
	reasonWorkspaceMissing = accessv1alpha1.ReasonWorkspaceNotFound
)

// +kubebuilder:rbac:groups=access.tenantward.io,resources=integrationpolicies,verbs=list;watch
// +kubebuilder:rbac:groups=access.tenantward.io,resources=integrationpolicies/status,verbs=patch
// +kubebuilder:rbac:groups=access.tenantward.io,resources=workspaces,verbs=list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

// integrationPolicyReconciler keeps IntegrationPolicy status (effective access
// per type, rejected overrides) and each Workspace's status.integrationAccess
// in line with the org policy and the workspace's override.
type integrationPolicyReconciler struct {
	client.Client
	events events.EventRecorder
}

// setupIntegrationPolicy registers the IntegrationPolicy status controller. An
// org policy change requeues the policies of every workspace of the
// organization; Workspace integration access is integrationaccess_controller.go's.
func setupIntegrationPolicy(mgr ctrl.Manager, _ Deps) error {
	r := &integrationPolicyReconciler{Client: mgr.GetClient(), events: mgr.GetEventRecorder(IntegrationPolicyFieldManager)}
	return ctrl.NewControllerManagedBy(mgr).
		Named("integrationpolicy").
		For(&accessv1alpha1.IntegrationPolicy{}).
		Watches(&accessv1alpha1.IntegrationPolicy{}, handler.EnqueueRequestsFromMapFunc(r.workspacePoliciesOfOrgPolicy)).
		Watches(&accessv1alpha1.Workspace{}, handler.EnqueueRequestsFromMapFunc(workspacePolicyOf)).
		Complete(reconcile.Func(r.reconcilePolicy))
}

// reconcilePolicy computes one IntegrationPolicy's status and patches it when
// it changed (patchStatus, status.go).
func (r *integrationPolicyReconciler) reconcilePolicy(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pol := &accessv1alpha1.IntegrationPolicy{}
	if err := r.Get(ctx, req.NamespacedName, pol); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := pol.DeepCopy()
	pol.Status.ObservedGeneration = pol.Generation
	if err := r.computePolicyStatus(ctx, pol, &pol.Status); err != nil {
		return ctrl.Result{}, err
	}
	if c := meta.FindStatusCondition(pol.Status.Conditions, ConditionOverrideRejected); c != nil && c.Status == metav1.ConditionTrue &&
		!meta.IsStatusConditionTrue(before.Status.Conditions, ConditionOverrideRejected) {
		announce(ctx, r.events, pol, nil, corev1.EventTypeWarning, c.Reason, "Override", c.Message)
	}
	return ctrl.Result{}, patchStatus(ctx, r.Client, before, pol, &before.Status, &pol.Status)
}

// computePolicyStatus fills scope, effective, rejectedOverrides and the Ready
// and OverrideRejected conditions.
func (r *integrationPolicyReconciler) computePolicyStatus(ctx context.Context, pol *accessv1alpha1.IntegrationPolicy, s *accessv1alpha1.IntegrationPolicyStatus) error {
	ready := metav1.Condition{Type: accessv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: reasonApplied, ObservedGeneration: pol.Generation}
	org, wsName, err := namespaceTenancy(ctx, r.Client, pol.Namespace)
	if err != nil {
		return err
	}
	s.Effective, s.RejectedOverrides, s.Scope = nil, nil, ""
	switch {
	case org == "":
		ready.Status, ready.Reason = metav1.ConditionFalse, reasonNotTenant
		ready.Message = fmt.Sprintf("namespace %s carries no %s label: an IntegrationPolicy belongs in an org or workspace namespace", pol.Namespace, accessv1alpha1.LabelOrganization)
	case wsName == "":
		s.Scope = string(accessv1alpha1.SourceOrganization)
		s.Effective = integrationpolicy.Organization(&pol.Spec)
		ready.Message = "organization defaults applied to every workspace"
	default:
		s.Scope = string(accessv1alpha1.SourceWorkspace)
		ws, err := findWorkspace(ctx, r.Client, org, wsName)
		if err != nil {
			return err
		}
		if ws == nil {
			ready.Status, ready.Reason = metav1.ConditionFalse, reasonWorkspaceMissing
			ready.Message = fmt.Sprintf("no Workspace %s of organization %s", wsName, org)
			break
		}
		orgSpec, err := integrationpolicy.SpecIn(ctx, r.Client, ws.Namespace)
		if err != nil {
			return err
		}
		s.Effective, s.RejectedOverrides = integrationpolicy.Workspace(orgSpec, &pol.Spec)
		ready.Message = "workspace overrides applied where the organization allows them"
		override := overrideCondition(s.RejectedOverrides, org, pol.Generation)
		meta.SetStatusCondition(&s.Conditions, override)
		if override.Status == metav1.ConditionTrue {
			// Stalled until the policy or the organization's changes.
			ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, override.Reason, override.Message
		}
	}
	if s.Scope != string(accessv1alpha1.SourceWorkspace) {
		meta.RemoveStatusCondition(&s.Conditions, ConditionOverrideRejected)
	}
	accessv1alpha1.SetReady(&s.Conditions, ready)
	return nil
}

func overrideCondition(rejected []accessv1alpha1.IntegrationType, org string, gen int64) metav1.Condition {
	c := metav1.Condition{Type: ConditionOverrideRejected, Status: metav1.ConditionFalse, Reason: reasonNoRejection, ObservedGeneration: gen,
		Message: "every override is allowed by the organization"}
	if len(rejected) > 0 {
		c.Status, c.Reason = metav1.ConditionTrue, reasonOverrideNotOpen
		c.Message = fmt.Sprintf("organization %s does not allow workspaces to override %v (its IntegrationPolicy sets workspaceOverride: Denied); the organization's setting applies", org, rejected)
	}
	return c
}

// workspacePoliciesOfOrgPolicy requeues the workspace policies of an org
// policy's workspaces (their effective values derive from it).
func (r *integrationPolicyReconciler) workspacePoliciesOfOrgPolicy(ctx context.Context, pol client.Object) []reconcile.Request {
	var out []reconcile.Request
	for _, ws := range affectedWorkspaces(ctx, r.Client, pol) {
		if ns := tenancy.WorkspaceNamespace(&ws); ns != pol.GetNamespace() {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: integrationpolicy.PolicyName}})
		}
	}
	return out
}

// workspacePolicyOf requeues a Workspace's own policy, which may have been
// created before the Workspace.
func workspacePolicyOf(_ context.Context, obj client.Object) []reconcile.Request {
	ws, ok := obj.(*accessv1alpha1.Workspace)
	if !ok {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: tenancy.WorkspaceNamespace(ws), Name: integrationpolicy.PolicyName}}}
}
