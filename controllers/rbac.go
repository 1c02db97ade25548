package controllers

import (
	"context"
	"fmt"
	"maps"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/tenancy"
)

// ownedSet is one kind of RBAC object the operator owns: the objects it
// has (from the cache) and the ones it wants, and how to compare and write
// them.
type ownedSet[T client.Object] struct {
	existing, desired []T
	// upToDate reports whether cur already is want: nothing to write.
	upToDate func(cur, want T) bool
	// immutableChanged reports whether cur differs from want in a field the
	// API server does not let change (a binding's roleRef): cur is deleted
	// before want is applied. Nil for kinds without one.
	immutableChanged func(cur, want T) bool
	// apply writes want with server-side apply.
	apply func(ctx context.Context, c client.Client, want T) error
	// applied and deleted, when set, are told of each write.
	applied, deleted func(ctx context.Context, obj T)
}

// syncOwned applies the desired objects that are missing or differ and
// deletes the existing ones not desired, with at most writeParallelism
// writes in flight; nothing is written when the cache already matches.
func syncOwned[T client.Object](ctx context.Context, c client.Client, s ownedSet[T]) error {
	have := make(map[client.ObjectKey]T, len(s.existing))
	for _, o := range s.existing {
		have[client.ObjectKeyFromObject(o)] = o
	}
	var jobs []func() error
	for _, want := range s.desired {
		key := client.ObjectKeyFromObject(want)
		cur, found := have[key]
		delete(have, key)
		if found && s.upToDate(cur, want) {
			continue
		}
		jobs = append(jobs, func() error {
			if found && s.immutableChanged != nil && s.immutableChanged(cur, want) {
				if err := c.Delete(ctx, cur); client.IgnoreNotFound(err) != nil {
					return err
				}
			}
			if err := s.apply(ctx, c, want); err != nil {
				return err
			}
			if s.applied != nil {
				s.applied(ctx, want)
			}
			return nil
		})
	}
	for _, stale := range have {
		jobs = append(jobs, func() error {
			if err := c.Delete(ctx, stale); err != nil {
				return client.IgnoreNotFound(err)
			}
			if s.deleted != nil {
				s.deleted(ctx, stale)
			}
			return nil
		})
	}
	return inParallel(jobs)
}

// pointers returns pointers to the items of a list, for ownedSet.
func pointers[T any](items []T) []*T {
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}

// clusterRoles is the ownedSet of ClusterRoles: labels and rules.
func clusterRoles(existing, desired []*rbacv1.ClusterRole) ownedSet[*rbacv1.ClusterRole] {
	return ownedSet[*rbacv1.ClusterRole]{
		existing: existing, desired: desired,
		upToDate: func(cur, want *rbacv1.ClusterRole) bool {
			return tenancy.HasLabels(cur.Labels, want.Labels) && equality.Semantic.DeepEqual(cur.Rules, want.Rules)
		},
		apply: applyClusterRole,
	}
}

// roleBindings is the ownedSet of RoleBindings.
func roleBindings(existing, desired []*rbacv1.RoleBinding) ownedSet[*rbacv1.RoleBinding] {
	fields := func(rb *rbacv1.RoleBinding) (rbacv1.RoleRef, []rbacv1.Subject) { return rb.RoleRef, rb.Subjects }
	return bindings(existing, desired, fields, func(rb *rbacv1.RoleBinding) runtime.ApplyConfiguration {
		return rbacv1ac.RoleBinding(rb.Name, rb.Namespace).WithLabels(maps.Clone(rb.Labels)).
			WithRoleRef(roleRefApply(rb.RoleRef)).WithSubjects(subjectsApply(rb.Subjects)...)
	})
}

// clusterRoleBindings is the ownedSet of ClusterRoleBindings.
func clusterRoleBindings(existing, desired []*rbacv1.ClusterRoleBinding) ownedSet[*rbacv1.ClusterRoleBinding] {
	fields := func(crb *rbacv1.ClusterRoleBinding) (rbacv1.RoleRef, []rbacv1.Subject) {
		return crb.RoleRef, crb.Subjects
	}
	return bindings(existing, desired, fields, func(crb *rbacv1.ClusterRoleBinding) runtime.ApplyConfiguration {
		return rbacv1ac.ClusterRoleBinding(crb.Name).WithLabels(crb.Labels).
			WithRoleRef(roleRefApply(crb.RoleRef)).WithSubjects(subjectsApply(crb.Subjects)...)
	})
}

// bindings is the ownedSet of a binding kind: up to date when its labels (others
// may add more), roleRef and subjects are the desired ones; a changed roleRef,
// which the API server does not let change, is replaced. fields reads a
// binding's roleRef and subjects; applyConfig makes its apply configuration.
func bindings[T client.Object](existing, desired []T, fields func(T) (rbacv1.RoleRef, []rbacv1.Subject), applyConfig func(T) runtime.ApplyConfiguration) ownedSet[T] {
	return ownedSet[T]{
		existing: existing, desired: desired,
		upToDate: func(cur, want T) bool {
			curRef, curSubjects := fields(cur)
			wantRef, wantSubjects := fields(want)
			return curRef == wantRef && tenancy.HasLabels(cur.GetLabels(), want.GetLabels()) && equality.Semantic.DeepEqual(curSubjects, wantSubjects)
		},
		immutableChanged: func(cur, want T) bool {
			curRef, _ := fields(cur)
			wantRef, _ := fields(want)
			return curRef != wantRef
		},
		apply: func(ctx context.Context, c client.Client, want T) error {
			gvk, err := c.GroupVersionKindFor(want)
			if err != nil {
				return err
			}
			return applyOwned(ctx, c, applyConfig(want), gvk.Kind, client.ObjectKeyFromObject(want))
		},
	}
}

func applyClusterRole(ctx context.Context, c client.Client, cr *rbacv1.ClusterRole) error {
	apply := rbacv1ac.ClusterRole(cr.Name).WithLabels(cr.Labels)
	for _, rule := range cr.Rules {
		apply.WithRules(rbacv1ac.PolicyRule().WithAPIGroups(rule.APIGroups...).WithResources(rule.Resources...).
			WithResourceNames(rule.ResourceNames...).WithVerbs(rule.Verbs...))
	}
	return applyOwned(ctx, c, apply, "ClusterRole", client.ObjectKeyFromObject(cr))
}

// applyOwned server-side applies an object the operator owns, as its field
// manager, taking over fields others changed.
func applyOwned(ctx context.Context, c client.Client, apply runtime.ApplyConfiguration, kind string, key client.ObjectKey) error {
	if err := c.Apply(ctx, apply, client.FieldOwner(accessv1alpha1.FieldManager), client.ForceOwnership); err != nil {
		return fmt.Errorf("applying %s %s: %w", kind, key, err)
	}
	return nil
}

func roleRefApply(ref rbacv1.RoleRef) *rbacv1ac.RoleRefApplyConfiguration {
	return rbacv1ac.RoleRef().WithAPIGroup(ref.APIGroup).WithKind(ref.Kind).WithName(ref.Name)
}

func subjectsApply(subjects []rbacv1.Subject) []*rbacv1ac.SubjectApplyConfiguration {
	out := make([]*rbacv1ac.SubjectApplyConfiguration, 0, len(subjects))
	for _, s := range subjects {
		a := rbacv1ac.Subject().WithKind(s.Kind).WithName(s.Name)
		if s.APIGroup != "" {
			a.WithAPIGroup(s.APIGroup)
		}
		if s.Namespace != "" {
			a.WithNamespace(s.Namespace)
		}
		out = append(out, a)
	}
	return out
}
