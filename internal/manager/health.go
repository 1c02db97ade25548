package manager

import (
	"context"
	"errors"
	"net/http"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
)

// cacheSyncTimeout bounds how long one readiness probe waits for the informer caches.
const cacheSyncTimeout = 2 * time.Second

// addHealthChecks registers the probes the Deployment uses:
//   - /healthz answers while the process serves HTTP (a liveness probe must not
//     depend on the API server, or an API outage would restart every replica);
//   - /readyz answers only when the informer caches have synced and, when the
//     replica serves webhooks, the webhook server listens with its certificate
//     loaded (a TLS handshake succeeds), so a Service never routes admissions to a
//     replica that cannot answer them.
func addHealthChecks(mgr ctrl.Manager, servesWebhooks bool) error {
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("informers", cachesSynced(mgr)); err != nil {
		return err
	}
	if servesWebhooks {
		return mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker())
	}
	return nil
}

// cachesSynced is a readiness check that passes once the manager's informer
// caches have synced. Caches run on every replica, leader or not, so standby
// replicas are ready to serve webhooks and the verifier.
func cachesSynced(mgr ctrl.Manager) healthz.Checker {
	return func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), cacheSyncTimeout)
		defer cancel()
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return errors.New("informer caches have not synced yet")
		}
		return nil
	}
}
