package audit_test

import (
	"context"
	"fmt"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantward/tenantward/internal/controlplane"
	"github.com/tenantward/tenantward/internal/testenv"
)

// The control plane of this package: a real kube-apiserver and etcd with the
// generated webhook configuration, and the operator's manager serving it with
// its audit trail written to auditFile and posted to httpSink.
var (
	testEnv   *controlplane.Env
	admin     client.Client
	testCtx   context.Context
	auditFile string
	httpSink  *flakySink
)

// suiteQueueSize is the manager's audit queue per sink: small, so that an HTTP
// outage fills it within a test.
const suiteQueueSize = 50

func TestMain(m *testing.M) {
	httpSink = startFlakySink("up")
	conf := fmt.Sprintf("audit:\n  queueSize: %d\n  http:\n    url: %s\n    batchSize: 10\n    timeout: 1s\n    maxBackoff: 200ms\n", suiteQueueSize, httpSink.server.URL)
	testenv.Main(m, testenv.Options{Webhooks: true, Config: conf}, func(op *testenv.Operator) error {
		testEnv, admin, testCtx, auditFile = op.Env, op.Admin, op.Ctx, op.AuditFile
		return nil
	})
}
