package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
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

// IntegrationPolicyFieldManager is the server-side apply field manager of the
// IntegrationPolicy controller. On Workspaces it owns only
// status.integrationAccess, so it never fights the Workspace controller over
// the rest of Workspace status (status.go).
const IntegrationPolicyFieldManager = "tenantward-integrationpolicy"

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
// +kubebuilder:rbac:groups=access.tenantward.io,resources=workspaces/status,verbs=patch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

// integrationPolicyReconciler keeps IntegrationPolicy status (effective access
// per type, rejected overrides) and each Workspace's status.integrationAccess
// in line with the org policy and the workspace's override.
type integrationPolicyReconciler struct {
	client.Client
	events events.EventRecorder
}

// setupIntegrationPolicy registers two controllers: one for IntegrationPolicy
// status, one for Workspace integration access. An org policy change requeues
// every workspace of the organization in both.
func setupIntegrationPolicy(mgr ctrl.Manager, _ Deps) error {
	r := &integrationPolicyReconciler{Client: mgr.GetClient(), events: mgr.GetEventRecorder(IntegrationPolicyFieldManager)}
	if err := ctrl.NewControllerManagedBy(mgr).
		Named("integrationpolicy").
		For(&accessv1alpha1.IntegrationPolicy{}).
		Watches(&accessv1alpha1.IntegrationPolicy{}, handler.EnqueueRequestsFromMapFunc(r.workspacePoliciesOfOrgPolicy)).
		Watches(&accessv1alpha1.Workspace{}, handler.EnqueueRequestsFromMapFunc(workspacePolicyOf)).
		Complete(reconcile.Func(r.reconcilePolicy)); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("workspace-integrationaccess").
		For(&accessv1alpha1.Workspace{}).
		Watches(&accessv1alpha1.IntegrationPolicy{}, handler.EnqueueRequestsFromMapFunc(r.workspacesOfPolicy)).
		Complete(reconcile.Func(r.reconcileWorkspace))
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

// reconcileWorkspace patches a Workspace's status.integrationAccess when it changed.
func (r *integrationPolicyReconciler) reconcileWorkspace(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
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
func (r *integrationPolicyReconciler) applyIntegrationAccess(ctx context.Context, ws *accessv1alpha1.Workspace, access []accessv1alpha1.EffectiveIntegrationAccess) error {
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

// workspacesOf lists the Workspaces a policy affects: every Workspace of the
// organization for an org policy, the one Workspace for a workspace policy.
func (r *integrationPolicyReconciler) workspacesOf(ctx context.Context, pol client.Object) []accessv1alpha1.Workspace {
	org, wsName, err := namespaceTenancy(ctx, r.Client, pol.GetNamespace())
	if err != nil || org == "" {
		return nil
	}
	if wsName != "" {
		ws, err := findWorkspace(ctx, r.Client, org, wsName)
		if err != nil || ws == nil {
			return nil
		}
		return []accessv1alpha1.Workspace{*ws}
	}
	list := &accessv1alpha1.WorkspaceList{}
	if err := r.List(ctx, list, client.InNamespace(pol.GetNamespace())); err != nil {
		return nil
	}
	return list.Items
}

func (r *integrationPolicyReconciler) workspacesOfPolicy(ctx context.Context, pol client.Object) []reconcile.Request {
	var out []reconcile.Request
	for _, ws := range r.workspacesOf(ctx, pol) {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ws.Namespace, Name: ws.Name}})
	}
	return out
}

// workspacePoliciesOfOrgPolicy requeues the workspace policies of an org
// policy's workspaces (their effective values derive from it).
func (r *integrationPolicyReconciler) workspacePoliciesOfOrgPolicy(ctx context.Context, pol client.Object) []reconcile.Request {
	var out []reconcile.Request
	for _, ws := range r.workspacesOf(ctx, pol) {
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
