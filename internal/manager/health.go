package manager

import (
	"context"
	"errors"
	"net/http"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"

	"github.com/tenantward/tenantward/internal/verifier"
)

// cacheSyncTimeout bounds how long one readiness probe waits for the informer caches.
const cacheSyncTimeout = 2 * time.Second

// addHealthChecks registers the probes the Deployment uses:
//   - /healthz answers while the process serves HTTP (a liveness probe must not
//     depend on the API server, or an API outage would restart every replica);
//   - /readyz answers only when the informer caches have synced, when the
//     replica serves webhooks, the webhook server listens with its certificate
//     loaded (a TLS handshake succeeds), and when it serves the key verifier,
//     the verifier has loaded every APIKey; so a Service never routes admissions
//     or verifications to a replica that cannot answer them.
func addHealthChecks(mgr ctrl.Manager, servesWebhooks bool, v *verifier.Server) error {
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("informers", cachesSynced(mgr)); err != nil {
		return err
	}
	if servesWebhooks {
		if err := mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker()); err != nil {
			return err
		}
	}
	if v != nil {
		return mgr.AddReadyzCheck("verifier", closed(v.Ready(), "the key verifier has not loaded the APIKeys yet"))
	}
	return nil
}

// closed is a check that passes once ch is closed.
func closed(ch <-chan struct{}, notYet string) healthz.Checker {
	return func(*http.Request) error {
		select {
		case <-ch:
			return nil
		default:
			return errors.New(notYet)
		}
	}
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
