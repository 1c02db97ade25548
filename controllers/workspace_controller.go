package controllers

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/audit"
	"github.com/tenantward/tenantward/internal/tenancy"
)

// Condition reasons of Workspaces.
const (
	reasonOrganizationMismatch = accessv1alpha1.ReasonOrganizationMismatch
	reasonOrganizationNotFound = accessv1alpha1.ReasonOrganizationNotFound
)

// +kubebuilder:rbac:groups=access.tenantward.io,resources=workspaces,verbs=list;watch;patch
// +kubebuilder:rbac:groups=access.tenantward.io,resources=workspaces/status,verbs=patch
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=rolebindings,verbs=list;watch;create;patch;delete;deletecollection

// workspaceReconciler gives a Workspace its namespace, keeps its status and
// cleans up on deletion. The Workspace's RBAC is the Membership controller's.
type workspaceReconciler struct {
	client.Client
	apiReader client.Reader
	events    events.EventRecorder
	audit     audit.Recorder
	reserved  tenancy.Reserved
}

func setupWorkspace(mgr ctrl.Manager, d Deps) error {
	r := &workspaceReconciler{
		Client:    mgr.GetClient(),
		apiReader: mgr.GetAPIReader(),
		events:    mgr.GetEventRecorder("tenantward"),
		audit:     d.Audit,
		reserved:  d.Reserved,
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("workspace").
		WithOptions(controller.Options{MaxConcurrentReconciles: concurrentReconciles}).
		For(&accessv1alpha1.Workspace{}).
		Watches(&accessv1alpha1.Organization{}, handler.EnqueueRequestsFromMapFunc(r.workspacesOfOrganization)).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.workspaceOfNamespace)).
		Watches(&accessv1alpha1.Membership{}, batchCreates(countDelay, r.workspaceOfNamespace), countOnly).
		Watches(&accessv1alpha1.APIKey{}, batchCreates(countDelay, r.workspaceOfNamespace), countOnly).
		Complete(r)
}

// Reconcile checks the Workspace belongs where it lives, handles deletion,
// adds the finalizer, makes the namespace and counts. Status is patched once,
// only when it changed, and never touches status.integrationAccess.
func (r *workspaceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ws := &accessv1alpha1.Workspace{}
	if err := r.Get(ctx, req.NamespacedName, ws); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := ws.DeepCopy()
	org, err := r.organizationOf(ctx, ws)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !ws.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, ws, org)
	}
	if org == nil {
		ws.Status.ObservedGeneration = observedGeneration(ws.Status.Conditions, ws.Status.ObservedGeneration)
		return ctrl.Result{}, patchStatus(ctx, r.Client, before, ws, &before.Status, &ws.Status)
	}
	if !controllerutil.ContainsFinalizer(ws, accessv1alpha1.Finalizer) {
		return ctrl.Result{}, addFinalizer(ctx, r.Client, ws)
	}
	result, err := r.reconcileLive(ctx, ws, org)
	ws.Status.ObservedGeneration = observedGeneration(ws.Status.Conditions, ws.Status.ObservedGeneration)
	return result, errors.Join(err, patchStatus(ctx, r.Client, before, ws, &before.Status, &ws.Status))
}

// organizationOf returns the Organization the Workspace belongs to, or nil
// with the Ready condition saying why it does not: the Organization is missing,
// or the Workspace's namespace is not that Organization's namespace (by name,
// and made for it: the same UID).
func (r *workspaceReconciler) organizationOf(ctx context.Context, ws *accessv1alpha1.Workspace) (*accessv1alpha1.Organization, error) {
	org := &accessv1alpha1.Organization{}
	err := r.Get(ctx, client.ObjectKey{Name: ws.Spec.Organization}, org)
	if apierrors.IsNotFound(err) {
		setReady(&ws.Status.Conditions, ws.Generation, metav1.ConditionFalse, reasonOrganizationNotFound,
			fmt.Sprintf("organization %s does not exist", ws.Spec.Organization))
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	orgNS := tenancy.OrgNamespace(org)
	msg := ""
	if ws.Namespace != orgNS {
		msg = fmt.Sprintf("workspace %s is in namespace %s, but organization %s's namespace is %s: create it there",
			ws.Name, ws.Namespace, org.Name, orgNS)
	} else if owned, err := r.deps().owns(ctx, orgNS, tenancy.Owner{Organization: org.Name, UID: org.UID}); err != nil {
		return nil, err
	} else if !owned {
		msg = fmt.Sprintf("namespace %s is not organization %s's (UID %s): it was left by another organization of that name, whose workspaces are not this one's",
			orgNS, org.Name, org.UID)
	}
	if msg != "" {
		if setReady(&ws.Status.Conditions, ws.Generation, metav1.ConditionFalse, reasonOrganizationMismatch, msg) {
			announce(ctx, r.events, ws, nil, corev1.EventTypeWarning, reasonOrganizationMismatch, "Reconcile", msg)
		}
		return nil, nil
	}
	return org, nil
}

func (r *workspaceReconciler) deps() namespaceDeps {
	return namespaceDeps{r.Client, r.apiReader, r.events, r.audit, r.reserved}
}

// ownerOf is the owner of a workspace's namespace: the workspace, by UID.
func ownerOf(ws *accessv1alpha1.Workspace) tenancy.Owner {
	return tenancy.Owner{Organization: ws.Spec.Organization, Workspace: ws.Name, UID: ws.UID}
}

// reconcileLive sets Ready: the workspace namespace exists and is ours.
func (r *workspaceReconciler) reconcileLive(ctx context.Context, ws *accessv1alpha1.Workspace, org *accessv1alpha1.Organization) (ctrl.Result, error) {
	nsName := tenancy.WorkspaceNamespace(ws)
	if err := r.deps().usable(nsName); err != nil {
		setReady(&ws.Status.Conditions, ws.Generation, metav1.ConditionFalse, reasonInvalidNamespace, err.Error())
		return ctrl.Result{}, nil
	}
	if err := ensureNamespace(ctx, r.deps(), ws, nsName, ownerOf(ws), org); err != nil {
		if conflict := (*claimError)(nil); errors.As(err, &conflict) {
			setReady(&ws.Status.Conditions, ws.Generation, metav1.ConditionFalse, reasonNamespaceConflict, err.Error())
			return ctrl.Result{RequeueAfter: conflictRetry}, nil
		}
		return ctrl.Result{}, err
	}
	members, keys, err := countIn(ctx, r.Client, nsName)
	if err != nil {
		return ctrl.Result{}, err
	}
	ws.Status.Namespace = nsName
	ws.Status.Members, ws.Status.APIKeys = int32(members), int32(keys) //nolint:gosec // counts of cached objects fit in int32
	setReady(&ws.Status.Conditions, ws.Generation, metav1.ConditionTrue, reasonReconciled,
		fmt.Sprintf("namespace %s, %d members", nsName, members))
	ws.Status.ObservedGeneration = ws.Generation
	return ctrl.Result{}, nil
}

// finalize refuses while Memberships or APIKeys remain in the workspace
// namespace, unless the Workspace or its deleting Organization says Cascade;
// then it deletes the namespace (and with it everything in it) and lets the
// Workspace go.
func (r *workspaceReconciler) finalize(ctx context.Context, ws *accessv1alpha1.Workspace, org *accessv1alpha1.Organization) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(ws, accessv1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	nsName := tenancy.WorkspaceNamespace(ws)
	cascade := ws.Spec.DeletionPolicy == accessv1alpha1.DeletionCascade || org == nil ||
		(!org.DeletionTimestamp.IsZero() && org.Spec.DeletionPolicy == accessv1alpha1.DeletionCascade)
	if !cascade {
		members, keys, err := countIn(ctx, r.Client, nsName)
		if err != nil {
			return ctrl.Result{}, err
		}
		if members+keys > 0 {
			before := ws.DeepCopy()
			msg := fmt.Sprintf("workspace %s still holds %d memberships and %d API keys in namespace %s: delete them first, or set spec.deletionPolicy to Cascade",
				ws.Name, members, keys, nsName)
			if setReady(&ws.Status.Conditions, ws.Generation, metav1.ConditionFalse, reasonDeletionBlocked, msg) {
				announce(ctx, r.events, ws, nil, corev1.EventTypeWarning, reasonDeletionBlocked, "Delete", msg)
			}
			ws.Status.ObservedGeneration = observedGeneration(ws.Status.Conditions, ws.Status.ObservedGeneration)
			return ctrl.Result{}, patchStatus(ctx, r.Client, before, ws, &before.Status, &ws.Status)
		}
	}
	if err := deleteNamespace(ctx, r.deps(), ws, nsName, ownerOf(ws)); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, removeFinalizer(ctx, r.Client, ws)
}

// workspacesOfOrganization maps an Organization to its Workspaces.
func (r *workspaceReconciler) workspacesOfOrganization(ctx context.Context, obj client.Object) []reconcile.Request {
	org, ok := obj.(*accessv1alpha1.Organization)
	if !ok {
		return nil
	}
	list := &accessv1alpha1.WorkspaceList{}
	if err := r.List(ctx, list, client.InNamespace(tenancy.OrgNamespace(org))); err != nil {
		return nil
	}
	var out []reconcile.Request
	for _, w := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&w)})
	}
	return out
}

// workspaceOfNamespace maps a workspace namespace, or an object in one, to its Workspace.
func (r *workspaceReconciler) workspaceOfNamespace(ctx context.Context, obj client.Object) []reconcile.Request {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		ns = &corev1.Namespace{}
		if err := r.Get(ctx, client.ObjectKey{Name: obj.GetNamespace()}, ns); err != nil {
			return nil
		}
	}
	owner, ok := tenancy.OwnerOf(ns)
	if !ok || owner.Workspace == "" {
		return nil
	}
	org := &accessv1alpha1.Organization{}
	if err := r.Get(ctx, client.ObjectKey{Name: owner.Organization}, org); err != nil {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: tenancy.OrgNamespace(org), Name: owner.Workspace}}}
}
