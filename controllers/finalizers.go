package controllers

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
)

func addFinalizer(ctx context.Context, c client.Client, obj client.Object) error {
	return patchFinalizer(ctx, c, obj, accessv1alpha1.Finalizer, true)
}

func removeFinalizer(ctx context.Context, c client.Client, obj client.Object) error {
	return patchFinalizer(ctx, c, obj, accessv1alpha1.Finalizer, false)
}

// patchFinalizer adds or removes a finalizer, failing with a conflict if obj
// changed since it was read; an object already gone is no error on removal.
func patchFinalizer(ctx context.Context, c client.Client, obj client.Object, finalizer string, add bool) error {
	before := obj.DeepCopyObject().(client.Object)
	if add {
		controllerutil.AddFinalizer(obj, finalizer)
		return c.Patch(ctx, obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	}
	controllerutil.RemoveFinalizer(obj, finalizer)
	return client.IgnoreNotFound(c.Patch(ctx, obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})))
}
