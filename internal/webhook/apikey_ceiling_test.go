package webhook_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/tenantward/tenantward/api/v1alpha1"
)

// TestKeyAboveCeilingIsNotRevived replays a workspace manager bringing back an
// admin's disabled, expiring key whose permissions exceed his own: refused.
// Taking access away stays open to him; the organization owner may revive it.
func TestKeyAboveCeilingIsNotRevived(t *testing.T) {
	tn := newTenant(t)
	expires := metav1.NewTime(time.Now().Add(time.Hour).Truncate(time.Second))
	key := apiKey(tn.wsNS, v1.APIKeyPermissions{Completions: v1.ToggleEnabled, Providers: v1.AccessDelete})
	key.Spec.State, key.Spec.ExpiresAt = v1.KeyDisabled, &expires
	allowed(t, "org admin creates a workspace key above a manager's ceiling", as(t, tn.admin).Create(testCtx, key))

	manager := as(t, tn.manager)
	k := key.DeepCopy()
	refusal := []string{"any change to a key needs the key within the requester's ceiling", "spec.permissions.providers",
		"providers is Delete, the most your role grants is Read"}
	denied(t, "manager re-enables it", updateAs(manager, k, func() { k.Spec.State = v1.KeyEnabled }), refusal...)
	denied(t, "manager clears its expiry", updateAs(manager, k, func() { k.Spec.ExpiresAt = nil }), refusal...)
	denied(t, "manager requests a rotation", updateAs(manager, k, func() { k.Annotations = map[string]string{v1.AnnotationRotate: "1"} }), refusal...)

	allowed(t, "owner re-enables it", updateAs(as(t, tn.owner), k, func() { k.Spec.State = v1.KeyEnabled }))
	allowed(t, "manager disables it", updateAs(manager, k, func() { k.Spec.State = v1.KeyDisabled }))
	earlier := metav1.NewTime(expires.Add(-time.Minute))
	allowed(t, "manager brings its expiry forward", updateAs(manager, k, func() { k.Spec.ExpiresAt = &earlier }))
	allowed(t, "manager revokes it", manager.Delete(testCtx, k))
}
