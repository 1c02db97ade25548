package webhook

import (
	"context"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/tenantward/tenantward/internal/audit"
	"github.com/tenantward/tenantward/internal/authz"
	"github.com/tenantward/tenantward/internal/config"
	"github.com/tenantward/tenantward/internal/tenancy"
)

// Paths the webhooks are served on.
const (
	PathMembership        = "/validate-access-tenantward-io-v1alpha1-membership"
	PathOrganization      = "/validate-access-tenantward-io-v1alpha1-organization"
	PathWorkspace         = "/validate-access-tenantward-io-v1alpha1-workspace"
	PathAPIKey            = "/validate-access-tenantward-io-v1alpha1-apikey"
	PathIntegrationPolicy = "/validate-access-tenantward-io-v1alpha1-integrationpolicy"
	PathGated             = "/validate-policy-gated"
)

// The webhook configuration, generated into config/webhook/manifests.yaml. Every
// webhook fails closed, answers within 5 seconds, has no side effects on dry
// run (the audit record is marked dry-run) and skips kube-system and the
// operator's namespace. The gated rule lists the default feature map's
// resources; a platform that maps other resources adds them to the chart's rules.
//
// +kubebuilder:webhook:path=/validate-access-tenantward-io-v1alpha1-membership,mutating=false,failurePolicy=fail,sideEffects=NoneOnDryRun,groups=access.tenantward.io,resources=memberships;memberships/status,verbs=create;update;delete,versions=v1alpha1,name=memberships.access.tenantward.io,admissionReviewVersions=v1,timeoutSeconds=5,patch=`{"namespaceSelector":{"matchExpressions":[{"key":"kubernetes.io/metadata.name","operator":"NotIn","values":["kube-system","tenantward-system"]}]}}`
// +kubebuilder:webhook:path=/validate-access-tenantward-io-v1alpha1-organization,mutating=false,failurePolicy=fail,sideEffects=NoneOnDryRun,groups=access.tenantward.io,resources=organizations;organizations/status,verbs=create;update;delete,versions=v1alpha1,name=organizations.access.tenantward.io,admissionReviewVersions=v1,timeoutSeconds=5
// +kubebuilder:webhook:path=/validate-access-tenantward-io-v1alpha1-workspace,mutating=false,failurePolicy=fail,sideEffects=NoneOnDryRun,groups=access.tenantward.io,resources=workspaces;workspaces/status,verbs=create;update;delete,versions=v1alpha1,name=workspaces.access.tenantward.io,admissionReviewVersions=v1,timeoutSeconds=5,patch=`{"namespaceSelector":{"matchExpressions":[{"key":"kubernetes.io/metadata.name","operator":"NotIn","values":["kube-system","tenantward-system"]}]}}`
// +kubebuilder:webhook:path=/validate-access-tenantward-io-v1alpha1-apikey,mutating=false,failurePolicy=fail,sideEffects=NoneOnDryRun,groups=access.tenantward.io,resources=apikeys;apikeys/status,verbs=create;update;delete,versions=v1alpha1,name=apikeys.access.tenantward.io,admissionReviewVersions=v1,timeoutSeconds=5,patch=`{"namespaceSelector":{"matchExpressions":[{"key":"kubernetes.io/metadata.name","operator":"NotIn","values":["kube-system","tenantward-system"]}]}}`
// +kubebuilder:webhook:path=/validate-access-tenantward-io-v1alpha1-integrationpolicy,mutating=false,failurePolicy=fail,sideEffects=NoneOnDryRun,groups=access.tenantward.io,resources=integrationpolicies;integrationpolicies/status,verbs=create;update;delete,versions=v1alpha1,name=integrationpolicies.access.tenantward.io,admissionReviewVersions=v1,timeoutSeconds=5,patch=`{"namespaceSelector":{"matchExpressions":[{"key":"kubernetes.io/metadata.name","operator":"NotIn","values":["kube-system","tenantward-system"]}]}}`
// +kubebuilder:webhook:path=/validate-policy-gated,mutating=false,failurePolicy=fail,sideEffects=NoneOnDryRun,groups=gateway.tenantward.io,resources=integrations;mcpintegrations;mcpservers,verbs=create;update;delete,versions=v1alpha1,name=policy-gated.gateway.tenantward.io,admissionReviewVersions=v1,timeoutSeconds=5,patch=`{"namespaceSelector":{"matchExpressions":[{"key":"kubernetes.io/metadata.name","operator":"NotIn","values":["kube-system","tenantward-system"]}]}}`

// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create
// +kubebuilder:rbac:groups=access.tenantward.io,resources=memberships;organizations;integrationpolicies,verbs=list;watch

// Options configure the webhooks.
type Options struct {
	// Config supplies the feature map and platform identities.
	Config *config.Config
	// Audit receives a record of every decision.
	Audit audit.Recorder
	// Certs say where the serving certificates come from.
	Certs CertOptions
	// OperatorNamespace holds the self-managed certificate Secret.
	OperatorNamespace string
	// CertDir is the webhook server's certificate directory.
	CertDir string
	// Reserved are the namespaces no Organization or Workspace may use.
	Reserved tenancy.Reserved
}

// Setup indexes Memberships by subject and registers every webhook on the
// manager's webhook server. The operator's own identity joins the platform
// identities, so its writes (APIKey status, master keys) always pass.
func Setup(ctx context.Context, mgr ctrl.Manager, o Options) error {
	if err := setupCertificates(ctx, mgr, o.Certs, o.OperatorNamespace, o.CertDir); err != nil {
		return err
	}
	informers, err := NewInformers(ctx, mgr.GetCache())
	if err != nil {
		return fmt.Errorf("informers of the webhooks: %w", err)
	}
	self, err := whoAmI(ctx, mgr.GetClient())
	if err != nil {
		return err
	}
	v := &Validator{
		Resolver: &Resolver{Informers: informers},
		Reader:   mgr.GetCache(),
		Client:   mgr.GetClient(),
		Platform: NewPlatform(o.Config.PlatformIdentities, self),
		Features: GatedResources(o.Config.Features),
		Audit:    o.Audit,
		Reserved: o.Reserved,
		Verifier: o.Config.VerifierIdentity,
	}
	if v.Verifier == "" {
		v.Verifier = self // the embedded verifier runs as the operator
	}
	srv := mgr.GetWebhookServer()
	for path, decide := range map[string]decideFunc{
		PathMembership:        v.membership,
		PathOrganization:      v.organization,
		PathWorkspace:         v.workspace,
		PathAPIKey:            v.apiKey,
		PathIntegrationPolicy: v.integrationPolicy,
		PathGated:             v.gated,
	} {
		srv.Register(path, &admission.Webhook{Handler: v.handler(decide)})
	}
	return nil
}

// GatedResources maps each resource of a policy-gated feature to the feature.
func GatedResources(m authz.FeatureMap) map[schema.GroupResource]authz.Feature {
	out := map[schema.GroupResource]authz.Feature{}
	for f := range m {
		if !authz.Gated(f) {
			continue
		}
		for _, gr := range m.GroupResourcesOf(f) {
			out[gr] = f
		}
	}
	return out
}

// whoAmI asks the API server who the operator is (a SelfSubjectReview), so
// that its own service account is a platform identity wherever it runs.
func whoAmI(ctx context.Context, c client.Client) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	review := &authenticationv1.SelfSubjectReview{}
	if err := c.Create(ctx, review); err != nil {
		return "", fmt.Errorf("asking the API server who the operator is (SelfSubjectReview): %w", err)
	}
	return review.Status.UserInfo.Username, nil
}
