package controllers

import (
	"context"
	"time"

	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// batchDelay is how long a reconcile triggered by a new object waits, so that a
// burst (a GitOps sync applying hundreds of Memberships) is reconciled, and
// written, once instead of once per object. Updates and deletions, which may
// revoke access, are not delayed.
const batchDelay = time.Second

// batchCreates maps events like handler.EnqueueRequestsFromMapFunc, delaying
// the requests of create events by batchDelay. The work queue keeps one entry
// per request, so every create in the window shares one reconcile.
func batchCreates(fn handler.MapFunc) handler.EventHandler {
	type queue = workqueue.TypedRateLimitingInterface[reconcile.Request]
	add := func(ctx context.Context, obj client.Object, q queue, delay time.Duration) {
		for _, req := range fn(ctx, obj) {
			if delay > 0 {
				q.AddAfter(req, delay)
			} else {
				q.Add(req)
			}
		}
	}
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q queue) { add(ctx, e.Object, q, batchDelay) },
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q queue) {
			add(ctx, e.ObjectOld, q, 0)
			add(ctx, e.ObjectNew, q, 0)
		},
		DeleteFunc:  func(ctx context.Context, e event.DeleteEvent, q queue) { add(ctx, e.Object, q, 0) },
		GenericFunc: func(ctx context.Context, e event.GenericEvent, q queue) { add(ctx, e.Object, q, 0) },
	}
}
