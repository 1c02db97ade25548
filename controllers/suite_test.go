package controllers_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/controlplane"
	"github.com/tenantward/tenantward/internal/manager"
	"github.com/tenantward/tenantward/internal/testenv"
)

// The shared control plane of the controllers tests: a real kube-apiserver and
// etcd, and the operator's manager (without webhooks) running against them.
var (
	testEnv *controlplane.Env
	// adminClient acts as system:masters, like a platform team's applier.
	adminClient client.Client
	// testCtx lives as long as the test binary.
	testCtx context.Context
	// auditFile receives the operator's audit trail as JSON lines.
	auditFile string
	// operator is the operator under test; operator.Log() is what it logged.
	operator *testenv.Operator
)

// pollTimeout bounds the tests' waits (a loaded 2-core machine needs generous ones).
const pollTimeout = testenv.PollTimeout

func TestMain(m *testing.M) {
	testenv.Main(m, testenv.Options{Config: testConfig}, func(op *testenv.Operator) error {
		testEnv, adminClient, testCtx, auditFile, operator = op.Env, op.Admin, op.Ctx, op.AuditFile, op
		return nil
	})
}

// testConfig maps Billing, the feature that has no Kubernetes resource by
// default, to a made-up resource, so that every row of the permission matrix
// can be checked with an access review, and shows the feature map is
// configuration.
// It excludes argocd from the webhooks, as the chart's webhook.excludeNamespaces would.
const testConfig = `
excludedNamespaces: [argocd]
features:
  billing:
  - group: billing.example.com
    resources: [invoices]
`

// eventually polls check until it returns nil, failing the test with the last
// error after pollTimeout.
func eventually(t testing.TB, what string, check func() error) {
	t.Helper()
	testenv.Eventually(t, testCtx, what, check)
}

// asUser returns a client that impersonates a tenant user, the way
// `kubectl --as=<user> --as-group=<group>` does.
func asUser(t testing.TB, user string, groups ...string) client.Client {
	t.Helper()
	c, err := client.New(controlplane.Impersonate(testEnv.Config, user, groups...), client.Options{Scheme: manager.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// canI answers `kubectl auth can-i <verb> <resource> [name] -n <ns> --as=<user>`:
// a SelfSubjectAccessReview sent as the impersonated user.
func canI(t testing.TB, user string, attrs authorizationv1.ResourceAttributes) bool {
	t.Helper()
	review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attrs}}
	if err := asUser(t, user).Create(testCtx, review); err != nil {
		t.Fatalf("SelfSubjectAccessReview as %s: %v", user, err)
	}
	return review.Status.Allowed
}

var nameCounter atomic.Int64

// uniqueName returns a DNS-label name unique within the test binary, so tests
// sharing the control plane never collide.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, nameCounter.Add(1))
}

// readyErr is nil when conditions hold Ready=True, else it describes them.
func readyErr(conditions []metav1.Condition) error {
	for _, c := range conditions {
		if c.Type == accessv1alpha1.ConditionReady {
			if c.Status == metav1.ConditionTrue {
				return nil
			}
			return fmt.Errorf("Ready=%s %s: %s", c.Status, c.Reason, c.Message)
		}
	}
	return errors.New("no Ready condition yet")
}

// createOrganization applies an Organization as the platform admin and waits
// until it is Ready; it returns the Organization as last read.
func createOrganization(t testing.TB, name string, mutate ...func(*accessv1alpha1.Organization)) *accessv1alpha1.Organization {
	t.Helper()
	org := &accessv1alpha1.Organization{ObjectMeta: metav1.ObjectMeta{Name: name}}
	for _, m := range mutate {
		m(org)
	}
	if err := adminClient.Create(testCtx, org); err != nil {
		t.Fatalf("creating organization %s: %v", name, err)
	}
	eventually(t, "organization "+name+" Ready", func() error {
		if err := adminClient.Get(testCtx, client.ObjectKeyFromObject(org), org); err != nil {
			return err
		}
		return readyErr(org.Status.Conditions)
	})
	return org
}

// createWorkspace applies a Workspace in the org namespace as the platform
// admin and waits until it is Ready.
func createWorkspace(t testing.TB, org *accessv1alpha1.Organization, name string, mutate ...func(*accessv1alpha1.Workspace)) *accessv1alpha1.Workspace {
	t.Helper()
	ws := &accessv1alpha1.Workspace{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: org.Status.Namespace},
		Spec:       accessv1alpha1.WorkspaceSpec{Organization: org.Name},
	}
	for _, m := range mutate {
		m(ws)
	}
	if err := adminClient.Create(testCtx, ws); err != nil {
		t.Fatalf("creating workspace %s: %v", name, err)
	}
	eventually(t, "workspace "+name+" Ready", func() error {
		if err := adminClient.Get(testCtx, client.ObjectKeyFromObject(ws), ws); err != nil {
			return err
		}
		return readyErr(ws.Status.Conditions)
	})
	return ws
}

// createMembership grants a user a role in a namespace (an org namespace for
// org roles, a workspace namespace for workspace roles) as the platform admin
// and waits until it is Ready.
func createMembership(t testing.TB, namespace, user string, role accessv1alpha1.Role) *accessv1alpha1.Membership {
	t.Helper()
	m := &accessv1alpha1.Membership{
		ObjectMeta: metav1.ObjectMeta{Name: uniqueName("m"), Namespace: namespace},
		Spec: accessv1alpha1.MembershipSpec{
			Subject: accessv1alpha1.Subject{Kind: accessv1alpha1.SubjectUser, Name: user},
			Role:    role,
		},
	}
	if err := adminClient.Create(testCtx, m); err != nil {
		t.Fatalf("creating membership of %s as %s in %s: %v", user, role, namespace, err)
	}
	eventually(t, "membership of "+user+" Ready", func() error {
		if err := adminClient.Get(testCtx, client.ObjectKeyFromObject(m), m); err != nil {
			return err
		}
		return readyErr(m.Status.Conditions)
	})
	return m
}
