package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/audit"
	"github.com/tenantward/tenantward/internal/authz"
	"github.com/tenantward/tenantward/internal/tenancy"
)

// MasterKeyName is the name of the master APIKey in an org namespace.
const MasterKeyName = "master"

// Condition reasons of Organizations and Workspaces (api/v1alpha1/conditions.go).
const (
	reasonReconciled        = accessv1alpha1.ReasonReconciled
	reasonNamespaceConflict = accessv1alpha1.ReasonNamespaceConflict
	reasonInvalidNamespace  = accessv1alpha1.ReasonInvalidNamespace
	reasonDeletionBlocked   = accessv1alpha1.ReasonDeletionBlocked
	reasonDeleting          = accessv1alpha1.ReasonDeleting
)

// concurrentReconciles lets each tenancy controller work on several
// organizations or workspaces at once, so API latency, not CPU, is hidden.
const concurrentReconciles = 4

// conflictRetry re-checks a namespace clash: the clashing namespace is not in
// the operator's cache, so its removal sends no event.
const conflictRetry = 30 * time.Second

// +kubebuilder:rbac:groups=access.tenantward.io,resources=organizations,verbs=get;list;watch;update;patch;delete
// +kubebuilder:rbac:groups=access.tenantward.io,resources=organizations/status,verbs=patch
// +kubebuilder:rbac:groups=access.tenantward.io,resources=workspaces,verbs=list;watch;delete
// +kubebuilder:rbac:groups=access.tenantward.io,resources=memberships,verbs=list;watch
// +kubebuilder:rbac:groups=access.tenantward.io,resources=apikeys,verbs=list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// organizationReconciler gives an Organization its namespace and master APIKey,
// keeps its status and cleans up on deletion.
type organizationReconciler struct {
	client.Client
	// apiReader sees namespaces outside the cache (which holds only the
	// operator's own), to report a clash instead of creating over it.
	apiReader client.Reader
	events    events.EventRecorder
	audit     audit.Recorder
	reserved  tenancy.Reserved
}

func setupOrganization(mgr ctrl.Manager, d Deps) error {
	r := &organizationReconciler{
		Client:    mgr.GetClient(),
		apiReader: mgr.GetAPIReader(),
		events:    mgr.GetEventRecorder("tenantward"),
		audit:     d.Audit,
		reserved:  d.Reserved,
	}
	c := mgr.GetClient()
	return ctrl.NewControllerManagedBy(mgr).
		Named("organization").
		WithOptions(controller.Options{MaxConcurrentReconciles: concurrentReconciles}).
		For(&accessv1alpha1.Organization{}).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(orgOfLabels)).
		Watches(&accessv1alpha1.Workspace{}, batchCreates(countDelay, orgOfWorkspace)).
		Watches(&accessv1alpha1.Membership{}, batchCreates(countDelay, orgOfNamespace(c)), countOnly).
		Watches(&accessv1alpha1.APIKey{}, batchCreates(countDelay, orgOfNamespace(c)), countOnly).
		Complete(r)
}

// Reconcile handles deletion first, then adds the finalizer, then makes the
// namespace and master key and counts the organization's objects. Status is
// patched once, at the end, and only when it changed.
func (r *organizationReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	org := &accessv1alpha1.Organization{}
	if err := r.Get(ctx, req.NamespacedName, org); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !org.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, org)
	}
	if !controllerutil.ContainsFinalizer(org, accessv1alpha1.Finalizer) {
		return ctrl.Result{}, addFinalizer(ctx, r.Client, org)
	}
	before := org.DeepCopy()
	result, err := r.reconcileLive(ctx, org)
	org.Status.ObservedGeneration = observedGeneration(org.Status.Conditions, org.Status.ObservedGeneration)
	return result, errors.Join(err, patchStatus(ctx, r.Client, before, org, &before.Status, &org.Status))
}

// reconcileLive sets Ready: the namespace exists and is ours, the master key
// object exists unless opted out.
func (r *organizationReconciler) reconcileLive(ctx context.Context, org *accessv1alpha1.Organization) (ctrl.Result, error) {
	nsName := tenancy.OrgNamespace(org)
	if err := r.deps().usable(nsName); err != nil {
		setReady(&org.Status.Conditions, org.Generation, metav1.ConditionFalse, reasonInvalidNamespace, err.Error())
		return ctrl.Result{}, nil
	}
	owner := tenancy.Owner{Organization: org.Name, UID: org.UID}
	if err := ensureNamespace(ctx, r.deps(), org, nsName, owner, org); err != nil {
		if conflict := (*claimError)(nil); errors.As(err, &conflict) {
			setReady(&org.Status.Conditions, org.Generation, metav1.ConditionFalse, reasonNamespaceConflict, err.Error())
			return ctrl.Result{RequeueAfter: conflictRetry}, nil
		}
		return ctrl.Result{}, err
	}
	org.Status.Namespace = nsName

	org.Status.MasterKeyName = ""
	if org.Spec.MasterKey != accessv1alpha1.MasterKeyNone {
		if err := r.ensureMasterKey(ctx, org, nsName); err != nil {
			return ctrl.Result{}, err
		}
		org.Status.MasterKeyName = MasterKeyName
	}
	if err := r.count(ctx, org); err != nil {
		return ctrl.Result{}, err
	}
	setReady(&org.Status.Conditions, org.Generation, metav1.ConditionTrue, reasonReconciled,
		fmt.Sprintf("namespace %s, %d workspaces, %d members", nsName, org.Status.Workspaces, org.Status.Members))
	org.Status.ObservedGeneration = org.Generation
	return ctrl.Result{}, nil
}

// ensureMasterKey creates the master APIKey object, with every permission at
// its maximum; the APIKey controller issues the key itself.
func (r *organizationReconciler) ensureMasterKey(ctx context.Context, org *accessv1alpha1.Organization, ns string) error {
	key := &accessv1alpha1.APIKey{}
	err := r.Get(ctx, client.ObjectKey{Namespace: ns, Name: MasterKeyName}, key)
	if err == nil || !apierrors.IsNotFound(err) {
		return err
	}
	labels := tenancy.Labels(org.Name, "")
	labels[accessv1alpha1.LabelMasterKey] = "true"
	key = &accessv1alpha1.APIKey{
		ObjectMeta: metav1.ObjectMeta{Name: MasterKeyName, Namespace: ns, Labels: labels},
		Spec: accessv1alpha1.APIKeySpec{
			Description: "Master admin key of organization " + org.Name + ", with every permission enabled.",
			Permissions: authz.MaxPermissions(),
			State:       accessv1alpha1.KeyEnabled,
		},
	}
	if err := r.Create(ctx, key, client.FieldOwner(accessv1alpha1.FieldManager)); err != nil {
		return client.IgnoreAlreadyExists(err)
	}
	rec := audit.OperatorAction(audit.ActionMasterKeyIssued, accessv1alpha1.GroupVersion.WithKind("APIKey"), key, "master admin key object created for organization "+org.Name)
	r.audit.Record(ctx, rec)
	announce(ctx, r.events, org, key, corev1.EventTypeNormal, audit.EventReason(rec.Action), "CreateMasterKey", "created master APIKey "+ns+"/"+MasterKeyName)
	return nil
}

// count sets the status counts from the cache: Workspaces in the org namespace,
// Memberships and APIKeys in every namespace of the organization.
func (r *organizationReconciler) count(ctx context.Context, org *accessv1alpha1.Organization) error {
	workspaces, err := workspacesOf(ctx, r.Client, org)
	if err != nil {
		return err
	}
	namespaces := &corev1.NamespaceList{}
	if err := r.List(ctx, namespaces, client.MatchingLabels(tenancy.Labels(org.Name, ""))); err != nil {
		return err
	}
	var members, keys int
	for _, ns := range namespaces.Items {
		m, k, err := countIn(ctx, r.Client, ns.Name)
		if err != nil {
			return err
		}
		members, keys = members+m, keys+k
	}
	org.Status.Workspaces, org.Status.Members, org.Status.APIKeys = int32(len(workspaces)), int32(members), int32(keys) //nolint:gosec // counts of cached objects fit in int32
	return nil
}

// finalize refuses while workspaces remain (unless Cascade, which deletes them
// and waits), then removes the organization's RBAC and namespace and lets the
// Organization go. An Organization that does not own its namespace (by UID)
// has no workspaces and deletes no namespace.
func (r *organizationReconciler) finalize(ctx context.Context, org *accessv1alpha1.Organization) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(org, accessv1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	before := org.DeepCopy()
	nsName, owner := tenancy.OrgNamespace(org), tenancy.Owner{Organization: org.Name, UID: org.UID}
	owned, err := r.deps().owns(ctx, nsName, owner)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !owned {
		// The Organization never made its namespace (a clash, an invalid name):
		// what is there, workspaces included, is not its own.
		return ctrl.Result{}, errors.Join(removeOrganizationRBAC(ctx, r.Client, org.Name), removeFinalizer(ctx, r.Client, org))
	}
	workspaces, err := workspacesOf(ctx, r.Client, org)
	if err != nil {
		return ctrl.Result{}, err
	}
	if len(workspaces) > 0 {
		if org.Spec.DeletionPolicy == accessv1alpha1.DeletionCascade {
			for i := range workspaces {
				if err := r.Delete(ctx, &workspaces[i]); client.IgnoreNotFound(err) != nil {
					return ctrl.Result{}, err
				}
			}
			msg := fmt.Sprintf("deleting: waiting for %d workspaces to be deleted", len(workspaces))
			if setReady(&org.Status.Conditions, org.Generation, metav1.ConditionFalse, reasonDeleting, msg) {
				ctrl.LoggerFrom(ctx).Info(msg, "reason", reasonDeleting, "deletionPolicy", org.Spec.DeletionPolicy)
			}
		} else {
			msg := fmt.Sprintf("organization %s still has %d workspaces (%s): delete them first, or set spec.deletionPolicy to Cascade",
				org.Name, len(workspaces), namesOf(workspaces))
			if setReady(&org.Status.Conditions, org.Generation, metav1.ConditionFalse, reasonDeletionBlocked, msg) {
				announce(ctx, r.events, org, nil, corev1.EventTypeWarning, reasonDeletionBlocked, "Delete", msg)
			}
		}
		org.Status.ObservedGeneration = observedGeneration(org.Status.Conditions, org.Status.ObservedGeneration)
		return ctrl.Result{}, patchStatus(ctx, r.Client, before, org, &before.Status, &org.Status)
	}
	if err := removeOrganizationRBAC(ctx, r.Client, org.Name); err != nil {
		return ctrl.Result{}, err
	}
	if err := deleteNamespace(ctx, r.deps(), org, nsName, owner); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, removeFinalizer(ctx, r.Client, org)
}

// removeOrganizationRBAC deletes the per-organization ClusterRoles and
// ClusterRoleBindings. RoleBindings go with their namespaces.
func removeOrganizationRBAC(ctx context.Context, c client.Client, org string) error {
	sel := client.MatchingLabels(tenancy.Labels(org, ""))
	return errors.Join(
		c.DeleteAllOf(ctx, &rbacv1.ClusterRoleBinding{}, sel),
		c.DeleteAllOf(ctx, &rbacv1.ClusterRole{}, sel),
	)
}

func namesOf(ws []accessv1alpha1.Workspace) string {
	names := make([]string, 0, len(ws))
	for _, w := range ws {
		names = append(names, w.Name)
	}
	return strings.Join(names, ", ")
}

func (r *organizationReconciler) deps() namespaceDeps {
	return namespaceDeps{r.Client, r.apiReader, r.events, r.audit, r.reserved}
}
