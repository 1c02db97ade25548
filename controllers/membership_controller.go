package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/audit"
	"github.com/tenantward/tenantward/internal/authz"
	"github.com/tenantward/tenantward/internal/tenancy"
)

// Condition reasons of Memberships.
const (
	reasonBound       = accessv1alpha1.ReasonBound
	reasonInvalidRole = accessv1alpha1.ReasonInvalidRole
	reasonLastOwner   = accessv1alpha1.ReasonLastOwner
)

// Binding and escalating the generated tenant ClusterRoles: zz_generated.rbac.go.
// Patching Memberships is for the last-owner finalizer.
// +kubebuilder:rbac:groups=access.tenantward.io,resources=memberships,verbs=list;watch;patch
// +kubebuilder:rbac:groups=access.tenantward.io,resources=memberships/status,verbs=patch
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=clusterroles;clusterrolebindings,verbs=list;watch;create;patch;delete;deletecollection

// membershipReconciler turns an organization's Memberships into RoleBindings (one
// per role per namespace, listing every holder of the role), its org roles'
// rights on the Organization object into a ClusterRole and ClusterRoleBinding
// by resource name, and reports in each Membership's status where it is bound.
// It also keeps the organization's last owner (guardOwners). Its requests are
// keyed by organization name, so one organization is never reconciled twice at
// once.
type membershipReconciler struct {
	client.Client
	// live reads owner Memberships from the API server (a quorum read), not the cache.
	live     client.Reader
	events   events.EventRecorder
	audit    audit.Recorder
	features authz.FeatureMap
}

func setupMembership(mgr ctrl.Manager, d Deps) error {
	c := mgr.GetClient()
	r := &membershipReconciler{Client: c, live: mgr.GetAPIReader(), events: mgr.GetEventRecorder("tenantward"), audit: d.Audit, features: d.Config.Features}
	return ctrl.NewControllerManagedBy(mgr).
		Named("membership").
		WithOptions(controller.Options{MaxConcurrentReconciles: concurrentReconciles}).
		Watches(&accessv1alpha1.Organization{}, handler.EnqueueRequestsFromMapFunc(orgOfName)).
		Watches(&accessv1alpha1.Workspace{}, handler.EnqueueRequestsFromMapFunc(orgOfWorkspace)).
		// New Memberships are batched; a changed role or a removal (which may
		// revoke access) is reconciled at once. Status-only updates are ignored.
		Watches(&accessv1alpha1.Membership{}, batchCreates(grantDelay, orgOfNamespace(c)), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(orgOfLabels), managedOnly).
		Watches(&rbacv1.RoleBinding{}, handler.EnqueueRequestsFromMapFunc(orgOfLabels), managedOnly).
		Watches(&rbacv1.ClusterRoleBinding{}, handler.EnqueueRequestsFromMapFunc(orgOfLabels), managedOnly).
		Watches(&rbacv1.ClusterRole{}, handler.EnqueueRequestsFromMapFunc(orgOfLabels), managedOnly).
		Complete(r)
}

// Reconcile keeps the organization's last owner, computes its RBAC plan from
// the cache and writes only the difference; an organization that is gone
// loses all of it.
func (r *membershipReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	orgName := req.Name
	org := &accessv1alpha1.Organization{}
	err := r.Get(ctx, req.NamespacedName, org)
	if err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, err
	}
	if err != nil {
		org = nil
	}
	// An Organization without its namespace (not made yet, or a clash with one
	// left by an earlier Organization of the same name) grants nothing: the
	// empty plan removes any RBAC labelled with its name, and its owners are
	// neither guarded nor released until it has a namespace.
	var held map[types.NamespacedName]bool
	var guardErr error
	if org == nil || org.Status.Namespace != "" {
		held, guardErr = r.guardOwners(ctx, orgName, org)
	}
	var in tenancy.Input
	var memberships []accessv1alpha1.Membership
	if org != nil && org.Status.Namespace != "" {
		if in, memberships, err = r.input(ctx, org, held); err != nil {
			return ctrl.Result{}, errors.Join(guardErr, err)
		}
	}
	plan := tenancy.PlanOrganization(in)
	return ctrl.Result{}, errors.Join(
		guardErr,
		r.syncRoleBindings(ctx, orgName, plan.RoleBindings),
		r.syncClusterRBAC(ctx, orgName, plan),
		r.syncMemberStatus(ctx, orgName, memberships, plan.Members, held),
	)
}

// guardOwners keeps at least one owner Membership in an organization,
// whatever deletions race: every owner Membership carries
// LastOwnerFinalizer, and a deleted one is let go only when a live read shows
// another owner that carries it and is not being deleted (such an owner can
// only go through this same check), or when the organization is gone or its
// namespace is being deleted. When every owner is being deleted, the oldest is
// held and the others are let go. The result names the Memberships whose role
// must stay bound in this plan whatever the cache says by now: the held one
// (true) and the owners the live read counted on to let others go (false) —
// an owner counted live here may be deleted an instant later, and until its
// own reconcile holds it, it must not drop out of the bindings.
// A Membership that is not an owner does not keep the finalizer.
func (r *membershipReconciler) guardOwners(ctx context.Context, orgName string, org *accessv1alpha1.Organization) (map[types.NamespacedName]bool, error) {
	ns, releaseAll, err := r.ownersNamespace(ctx, orgName, org)
	if err != nil || ns == "" {
		return nil, err
	}
	// The cache says whether there is anything to do; what is done is decided
	// on the live read. A change the cache has not seen yet brings its own event.
	list := &accessv1alpha1.MembershipList{}
	if err := r.List(ctx, list, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(list.Items, func(m accessv1alpha1.Membership) bool {
		a := ownerAction(&m, releaseAll)
		return a != ownerSettled && a != ownerLive
	}) {
		return nil, nil
	}
	if err := r.live.List(ctx, list, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	live := 0
	var leaving []*accessv1alpha1.Membership
	var errs []error
	held := map[types.NamespacedName]bool{}
	for i := range list.Items {
		m := &list.Items[i]
		switch ownerAction(m, releaseAll) {
		case ownerRelease:
			errs = append(errs, patchFinalizer(ctx, r.Client, m, accessv1alpha1.LastOwnerFinalizer, false))
		case ownerLeaving:
			leaving = append(leaving, m)
		case ownerLive:
			live++
			held[client.ObjectKeyFromObject(m)] = false
		case ownerGuard:
			err := patchFinalizer(ctx, r.Client, m, accessv1alpha1.LastOwnerFinalizer, true)
			if err == nil {
				live++
				held[client.ObjectKeyFromObject(m)] = false
			}
			errs = append(errs, err)
		}
	}
	if live == 0 && len(leaving) > 0 {
		slices.SortFunc(leaving, func(a, b *accessv1alpha1.Membership) int {
			if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
				return c
			}
			return strings.Compare(a.Name, b.Name)
		})
		held[client.ObjectKeyFromObject(leaving[0])] = true
		leaving = leaving[1:]
	}
	for _, m := range leaving {
		err := patchFinalizer(ctx, r.Client, m, accessv1alpha1.LastOwnerFinalizer, false)
		if err == nil {
			ctrl.LoggerFrom(ctx).Info("owner Membership released: another owner remains or is held", "membership", client.ObjectKeyFromObject(m))
		}
		errs = append(errs, err)
	}
	return held, errors.Join(errs...)
}

// What guardOwners does with a Membership.
const (
	ownerSettled = iota // nothing: not an owner, and without the finalizer
	ownerRelease        // remove the finalizer: not an owner, or everything goes
	ownerLeaving        // an owner being deleted, held unless another owner lives
	ownerLive           // an owner with the finalizer, not being deleted
	ownerGuard          // an owner without the finalizer yet: add it
)

func ownerAction(m *accessv1alpha1.Membership, releaseAll bool) int {
	guarded := controllerutil.ContainsFinalizer(m, accessv1alpha1.LastOwnerFinalizer)
	switch {
	case releaseAll || m.Spec.Role != accessv1alpha1.RoleOwner:
		if guarded {
			return ownerRelease
		}
		return ownerSettled
	case !m.DeletionTimestamp.IsZero():
		if guarded {
			return ownerLeaving
		}
		return ownerSettled
	case guarded:
		return ownerLive
	}
	return ownerGuard
}

// ownersNamespace is the org namespace whose owner Memberships guardOwners
// looks after, and whether to let them all go: the organization is gone (its
// namespace is found by its labels) or its namespace is being deleted.
func (r *membershipReconciler) ownersNamespace(ctx context.Context, orgName string, org *accessv1alpha1.Organization) (string, bool, error) {
	if org != nil {
		ns := &corev1.Namespace{}
		if err := r.Get(ctx, client.ObjectKey{Name: org.Status.Namespace}, ns); err != nil {
			return "", false, client.IgnoreNotFound(err)
		}
		return ns.Name, !ns.DeletionTimestamp.IsZero(), nil
	}
	list := &corev1.NamespaceList{}
	if err := r.List(ctx, list, client.MatchingLabels(tenancy.Labels(orgName, ""))); err != nil {
		return "", false, err
	}
	for i := range list.Items {
		if o, ok := tenancy.OwnerOf(&list.Items[i]); ok && o.Organization == orgName && o.Workspace == "" {
			return list.Items[i].Name, true, nil
		}
	}
	return "", false, nil
}

// input gathers what the plan needs: the org namespace, the live workspace
// namespaces with their integration gates, and every Membership in them that
// is not being deleted, or that guardOwners keeps bound.
func (r *membershipReconciler) input(ctx context.Context, org *accessv1alpha1.Organization, held map[types.NamespacedName]bool) (tenancy.Input, []accessv1alpha1.Membership, error) {
	in := tenancy.Input{Organization: org.Name, OrgNamespace: org.Status.Namespace, Features: r.features}
	workspaces, err := workspacesOf(ctx, r.Client, org)
	if err != nil {
		return in, nil, err
	}
	namespaces := &corev1.NamespaceList{}
	if err := r.List(ctx, namespaces, client.MatchingLabels(tenancy.Labels(org.Name, ""))); err != nil {
		return in, nil, err
	}
	live := map[string]bool{}
	for _, ns := range namespaces.Items {
		if ns.DeletionTimestamp.IsZero() {
			live[ns.Name] = true
		}
	}
	if !live[in.OrgNamespace] {
		return in, nil, nil
	}
	nsList := []string{in.OrgNamespace}
	for i := range workspaces {
		w := &workspaces[i]
		ns := tenancy.WorkspaceNamespace(w)
		if !live[ns] || w.Status.Namespace != ns {
			continue
		}
		in.Workspaces = append(in.Workspaces, tenancy.WorkspaceNS{Name: w.Name, Namespace: ns, Gate: tenancy.GateOf(w), PersonalKeys: tenancy.PersonalKeysEnabled(w)})
		nsList = append(nsList, ns)
	}
	var memberships []accessv1alpha1.Membership
	for _, ns := range nsList {
		list := &accessv1alpha1.MembershipList{}
		if err := r.List(ctx, list, client.InNamespace(ns)); err != nil {
			return in, nil, err
		}
		for _, m := range list.Items {
			if _, kept := held[client.ObjectKeyFromObject(&m)]; m.DeletionTimestamp.IsZero() || kept {
				memberships = append(memberships, m)
			}
		}
	}
	in.Memberships = memberships
	return in, memberships, nil
}

// syncRoleBindings applies desired RoleBindings that differ from the cache
// (recreating one whose immutable roleRef someone changed) and deletes the
// organization's RoleBindings that are no longer desired, with an audit
// record for each write.
func (r *membershipReconciler) syncRoleBindings(ctx context.Context, org string, desired []rbacv1.RoleBinding) error {
	existing := &rbacv1.RoleBindingList{}
	if err := r.List(ctx, existing, client.MatchingLabels(tenancy.Labels(org, ""))); err != nil {
		return err
	}
	set := roleBindings(pointers(existing.Items), pointers(desired))
	record := func(ctx context.Context, action string, rb *rbacv1.RoleBinding, reason string) {
		r.audit.Record(ctx, audit.OperatorAction(action, rbacv1.SchemeGroupVersion.WithKind("RoleBinding"), rb, reason))
	}
	set.applied = func(ctx context.Context, rb *rbacv1.RoleBinding) {
		record(ctx, audit.ActionRoleBindingApplied, rb, fmt.Sprintf("%d subjects bound to %s", len(rb.Subjects), rb.RoleRef.Name))
	}
	set.deleted = func(ctx context.Context, rb *rbacv1.RoleBinding) {
		record(ctx, audit.ActionRoleBindingDeleted, rb, "no membership holds "+rb.RoleRef.Name+" any more")
	}
	return syncOwned(ctx, r.Client, set)
}

// syncClusterRBAC does for the organization's ClusterRoles and
// ClusterRoleBindings on its Organization object what syncRoleBindings does
// for RoleBindings, roles first.
func (r *membershipReconciler) syncClusterRBAC(ctx context.Context, org string, plan tenancy.Plan) error {
	sel := client.MatchingLabels(tenancy.Labels(org, ""))
	roles := &rbacv1.ClusterRoleList{}
	bindings := &rbacv1.ClusterRoleBindingList{}
	if err := errors.Join(r.List(ctx, roles, sel), r.List(ctx, bindings, sel)); err != nil {
		return err
	}
	return errors.Join(
		syncOwned(ctx, r.Client, clusterRoles(pointers(roles.Items), pointers(plan.ClusterRoles))),
		syncOwned(ctx, r.Client, clusterRoleBindings(pointers(bindings.Items), pointers(plan.ClusterRoleBindings))),
	)
}

// syncMemberStatus patches each Membership whose status differs from the
// plan's; a held last owner says why it stays, with a Warning event.
func (r *membershipReconciler) syncMemberStatus(ctx context.Context, org string, memberships []accessv1alpha1.Membership,
	statuses map[types.NamespacedName]tenancy.MemberStatus, held map[types.NamespacedName]bool) error {
	var jobs []func() error
	for i := range memberships {
		m := &memberships[i]
		want, ok := statuses[client.ObjectKeyFromObject(m)]
		if !ok {
			continue
		}
		before := m.DeepCopy()
		m.Status.Organization = org
		m.Status.Workspace = want.Workspace
		m.Status.BoundNamespaces = want.BoundNamespaces
		switch {
		case want.Err != nil:
			if setReady(&m.Status.Conditions, m.Generation, metav1.ConditionFalse, reasonInvalidRole, want.Err.Error()) {
				announce(ctx, r.events, m, nil, corev1.EventTypeWarning, reasonInvalidRole, "Bind", want.Err.Error())
			}
		case held[client.ObjectKeyFromObject(m)]:
			msg := fmt.Sprintf("not deleted: %s is the last owner of organization %s, and its owner role stays bound until another owner exists; add another owner first",
				m.Spec.Subject.Name, org)
			if setReady(&m.Status.Conditions, m.Generation, metav1.ConditionFalse, reasonLastOwner, msg) {
				announce(ctx, r.events, m, nil, corev1.EventTypeWarning, reasonLastOwner, "Delete", msg)
			}
		default:
			setReady(&m.Status.Conditions, m.Generation, metav1.ConditionTrue, reasonBound,
				fmt.Sprintf("%s bound in %d namespaces", m.Spec.Role, len(want.BoundNamespaces)))
		}
		m.Status.ObservedGeneration = observedGeneration(m.Status.Conditions, m.Status.ObservedGeneration)
		if equality.Semantic.DeepEqual(before.Status, m.Status) {
			continue
		}
		jobs = append(jobs, func() error { return patchStatus(ctx, r.Client, before, m, &before.Status, &m.Status) })
	}
	return inParallel(jobs)
}
