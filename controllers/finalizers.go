package controllers

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
)

// addFinalizer holds obj's deletion until its controller has cleaned up
// (finalize in organization_controller.go and workspace_controller.go).
func addFinalizer(ctx context.Context, c client.Client, obj client.Object) error {
	return patchFinalizer(ctx, c, obj, accessv1alpha1.Finalizer, true)
}

// removeFinalizer lets obj's deletion proceed once its cleanup is done.
func removeFinalizer(ctx context.Context, c client.Client, obj client.Object) error {
	if err := patchFinalizer(ctx, c, obj, accessv1alpha1.Finalizer, false); err != nil {
		return err
	}
	ctrl.LoggerFrom(ctx).Info("deletion released: cleanup done, finalizer removed", "finalizer", accessv1alpha1.Finalizer)
	return nil
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
