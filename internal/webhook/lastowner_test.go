package webhook_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tenantward/tenantward/api/v1alpha1"
)

// TestLastOwnerSurvivesConcurrentDeletes replays two owners deleting both
// owner Memberships at the same instant, many times: each request may pass
// the webhook (each sees the other owner), but the organization always keeps
// an owner whose rights still work, and exactly one deletion completes.
func TestLastOwnerSurvivesConcurrentDeletes(t *testing.T) {
	tn := newTenant(t)
	manage := authorizationv1.ResourceAttributes{Namespace: tn.orgNS, Verb: "delete", Group: v1.GroupVersion.Group, Resource: "memberships"}
	leftover := tn.ownerMembship
	both := 0
	for round := range 20 {
		pair := [2]*v1.Membership{grant(t, tn.orgNS, unique("owner"), v1.RoleOwner), grant(t, tn.orgNS, unique("owner"), v1.RoleOwner)}
		for _, m := range pair {
			guarded(t, m)
			eventually(t, "owner rights bound for "+m.Spec.Subject.Name, func() error {
				if !canIOnly(t, m.Spec.Subject.Name, manage) {
					return errors.New("not bound yet")
				}
				return nil
			})
		}
		// The last round's survivor leaves now that two owners exist.
		eventually(t, "last round's owner leaves", func() error { return client.IgnoreNotFound(admin.Delete(testCtx, leftover)) })
		eventually(t, "last round's owner gone", func() error { return goneErr(leftover) })

		var start, done sync.WaitGroup
		start.Add(1)
		errs := make([]error, 2)
		for i, m := range pair {
			c := as(t, m.Spec.Subject.Name)
			done.Add(1)
			go func() {
				defer done.Done()
				start.Wait()
				errs[i] = c.Delete(testCtx, m)
			}()
		}
		start.Done()
		done.Wait()
		if errs[0] == nil && errs[1] == nil {
			both++
		}
		for _, err := range errs {
			if err != nil && !contains(err, "last owner of organization "+tn.org.Name) {
				t.Fatalf("round %d: unexpected error %v", round, err)
			}
		}

		eventually(t, fmt.Sprintf("round %d: one deletion completes, one owner stays", round), func() error {
			var left []*v1.Membership
			for _, m := range pair {
				cur := m.DeepCopy()
				err := admin.Get(testCtx, client.ObjectKeyFromObject(cur), cur)
				switch {
				case err == nil:
					left = append(left, cur)
				case !apierrors.IsNotFound(err):
					return err
				}
			}
			if len(left) == 0 {
				t.Fatalf("round %d: the organization lost both owners", round)
			}
			if len(left) == 2 {
				return errors.New("both owner Memberships still there")
			}
			leftover = left[0]
			return nil
		})
		if !canIOnly(t, leftover.Spec.Subject.Name, manage) {
			t.Fatalf("round %d: the remaining owner %s lost its rights", round, leftover.Spec.Subject.Name)
		}
	}
	t.Logf("both deletions passed the webhook in %d of 20 rounds", both)
}

// TestLastOwnerFinalizerIsNotStrippable: an owner cannot remove the finalizer
// that holds the organization's last owner.
func TestLastOwnerFinalizerIsNotStrippable(t *testing.T) {
	tn := newTenant(t)
	m := tn.ownerMembship.DeepCopy()
	guarded(t, m)
	denied(t, "owner strips the last-owner finalizer", updateAs(as(t, tn.owner), m, func() {
		m.Finalizers = slices.DeleteFunc(m.Finalizers, func(f string) bool { return f == v1.LastOwnerFinalizer })
	}), "metadata.finalizers", "only the operator adds it, and removes it once the organization has another owner")
}

// guarded waits until an owner Membership carries the last-owner finalizer.
func guarded(t *testing.T, m *v1.Membership) {
	t.Helper()
	eventually(t, "last-owner finalizer on "+m.Name, func() error {
		if err := admin.Get(testCtx, client.ObjectKeyFromObject(m), m); err != nil {
			return err
		}
		if !slices.Contains(m.Finalizers, v1.LastOwnerFinalizer) {
			return fmt.Errorf("finalizers %v", m.Finalizers)
		}
		return nil
	})
}

// goneErr is nil once obj no longer exists.
func goneErr(obj client.Object) error {
	err := admin.Get(testCtx, client.ObjectKeyFromObject(obj), obj)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("%s still there (finalizers %v)", obj.GetName(), obj.GetFinalizers())
}
