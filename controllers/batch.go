package controllers

import (
	"context"
	"errors"
	"sync"
	"time"

	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Batching delays: how long a reconcile triggered by a new object waits, so
// that a burst (a GitOps sync applying hundreds of Memberships) is reconciled,
// and written, once instead of once per object. Updates and deletions, which
// may revoke access, are not delayed.
const (
	// grantDelay batches new Memberships into their RoleBindings.
	grantDelay = time.Second
	// countDelay batches the status counts of Organizations and Workspaces.
	countDelay = 5 * time.Second
)

// writeParallelism bounds the writes one reconcile has in flight, so that an
// organization's hundreds of Membership statuses cost API latency once, not
// once per Membership.
const writeParallelism = 8

// batchCreates maps events like handler.EnqueueRequestsFromMapFunc, delaying
// the requests of create events by delay. The work queue keeps one entry per
// request, so every create in the window shares one reconcile.
func batchCreates(delay time.Duration, fn handler.MapFunc) handler.EventHandler {
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
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q queue) { add(ctx, e.Object, q, delay) },
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q queue) {
			add(ctx, e.ObjectOld, q, 0)
			add(ctx, e.ObjectNew, q, 0)
		},
		DeleteFunc:  func(ctx context.Context, e event.DeleteEvent, q queue) { add(ctx, e.Object, q, 0) },
		GenericFunc: func(ctx context.Context, e event.GenericEvent, q queue) { add(ctx, e.Object, q, 0) },
	}
}

// inParallel runs the jobs with at most writeParallelism at a time and joins
// their errors.
func inParallel(jobs []func() error) error {
	errs := make([]error, len(jobs))
	sem := make(chan struct{}, writeParallelism)
	var wg sync.WaitGroup
	for i, job := range jobs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = job()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
