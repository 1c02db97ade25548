package controllers

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/tenancy"
)

// Personal keys (docs/apikeys.md): when the owner of an APIKey with
// spec.owner no longer holds a role where the key lives — their last
// Membership there deleted, or its subject changed — the operator sets the
// key's spec.state to Disabled, so the verifier refuses it as soon as the
// watch delivers the change, and the key reports Ready=False, OwnerLeft. It
// stays disabled: re-enabling is setting spec.state to Enabled, which the
// webhook lets only someone entitled do, and only while the owner is a member
// again (internal/webhook/personalkeys.go).

// Field indexes of the personal keys, by tenancy.SubjectKey: a Membership's
// deletion finds its subject's keys, and a key its owner's Memberships,
// without listing them all.
const (
	ownerIndex   = "tenantward.apikey.owner"
	subjectIndex = "tenantward.membership.subject"
)

// Disabling a personal key is a patch of its spec.state.
// +kubebuilder:rbac:groups=access.tenantward.io,resources=apikeys,verbs=patch

// owners looks after personal keys for the APIKey reconciler.
type owners struct {
	client.Client
	// live confirms, before a key is disabled, that its owner is gone: the
	// cache may not yet hold a Membership the webhook (in another replica)
	// already counted.
	live client.Reader
}

// indexOwners adds ownerIndex and subjectIndex to the manager's cache.
func indexOwners(mgr ctrl.Manager) error {
	ctx, idx := context.Background(), mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &accessv1alpha1.APIKey{}, ownerIndex, func(o client.Object) []string {
		if k, ok := o.(*accessv1alpha1.APIKey); ok && k.Spec.Owner != nil {
			return []string{tenancy.SubjectKey(*k.Spec.Owner)}
		}
		return nil
	}); err != nil {
		return err
	}
	return idx.IndexField(ctx, &accessv1alpha1.Membership{}, subjectIndex, func(o client.Object) []string {
		if m, ok := o.(*accessv1alpha1.Membership); ok {
			return []string{tenancy.SubjectKey(m.Spec.Subject)}
		}
		return nil
	})
}

// keysOf maps a Membership to the personal keys of its subject: created,
// deleted, or its spec changed or its deletion begun (both bump the
// generation; the watch ignores status-only updates). On a change the old
// and the new subject are each mapped.
func (o *owners) keysOf(ctx context.Context, obj client.Object) []reconcile.Request {
	m, ok := obj.(*accessv1alpha1.Membership)
	if !ok {
		return nil
	}
	keys := &accessv1alpha1.APIKeyList{}
	if err := o.List(ctx, keys, client.MatchingFields{ownerIndex: tenancy.SubjectKey(m.Spec.Subject)}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing the personal keys of a Membership's subject", "membership", client.ObjectKeyFromObject(m))
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(keys.Items))
	for i := range keys.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&keys.Items[i])})
	}
	return reqs
}

// check returns why key's owner no longer counts ("" when they do, for a
// key without owner, and while the organization is gone or going: the
// verifier refuses its keys anyway). When the owner left and the key is still
// Enabled, and a live read confirms it, it disables the key: key then holds
// the patched object.
func (o *owners) check(ctx context.Context, key *accessv1alpha1.APIKey) (string, error) {
	if key.Spec.Owner == nil {
		return "", nil
	}
	orgName, ws, err := namespaceTenancy(ctx, o.Client, key.Namespace)
	if err != nil || orgName == "" {
		return "", err
	}
	org := &accessv1alpha1.Organization{}
	if err := o.Get(ctx, client.ObjectKey{Name: orgName}, org); err != nil || !org.DeletionTimestamp.IsZero() {
		return "", client.IgnoreNotFound(err)
	}
	owner, orgNS, wsNS := *key.Spec.Owner, tenancy.OrgNamespace(org), ""
	if ws != "" {
		wsNS = key.Namespace
	}
	list := &accessv1alpha1.MembershipList{}
	if err := o.List(ctx, list, client.MatchingFields{subjectIndex: tenancy.SubjectKey(owner)}); err != nil {
		return "", err
	}
	if tenancy.OwnerRole(owner, orgNS, wsNS, pointers(list.Items)).Valid() {
		return "", nil
	}
	where := orgName
	if ws != "" {
		where += "/" + ws
	}
	why := fmt.Sprintf("its owner %s holds no role in %s any more (no Membership naming them in the organization namespace or this workspace's): "+
		"the key is disabled and does not verify; once they are a member again, someone entitled may set spec.state to Enabled", tenancy.SubjectKey(owner), where)
	if key.Spec.State == accessv1alpha1.KeyDisabled {
		return why, nil
	}
	var live []*accessv1alpha1.Membership
	for _, ns := range []string{orgNS, wsNS} {
		if ns == "" {
			continue
		}
		l := &accessv1alpha1.MembershipList{}
		if err := o.live.List(ctx, l, client.InNamespace(ns)); err != nil {
			return "", err
		}
		live = append(live, pointers(l.Items)...)
	}
	if tenancy.OwnerRole(owner, orgNS, wsNS, live).Valid() {
		return "", nil // the cache lags: the Membership's event brings the key back here
	}
	disabled := key.DeepCopy()
	disabled.Spec.State = accessv1alpha1.KeyDisabled
	if err := o.Patch(ctx, disabled, client.MergeFromWithOptions(key, client.MergeFromWithOptimisticLock{})); err != nil {
		return "", fmt.Errorf("disabling personal key %s/%s, whose owner left: %w", key.Namespace, key.Name, err)
	}
	*key = *disabled
	return why, nil
}
