package audit

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// WebhookPath is where the audit-only webhook is served.
const WebhookPath = "/audit-gateway"

// The audit-only webhook covers the resources of the feature map that no
// deciding webhook sees (the default map's prompts, configs, guardrails,
// providers and models; the policy-gated ones are audited by the webhook that
// decides them). It fails open with a short timeout and always allows, so that
// auditing never blocks a write. A platform that maps features to its own
// gateway's CRDs adds them to this rule in the chart's values.
//
// +kubebuilder:webhook:path=/audit-gateway,mutating=false,failurePolicy=ignore,sideEffects=NoneOnDryRun,groups=gateway.tenantward.io,resources=prompts;configs;guardrails;providers;models,verbs=create;update;delete,versions=v1alpha1,name=audit.gateway.tenantward.io,admissionReviewVersions=v1,timeoutSeconds=2,patch=`{"namespaceSelector":{"matchExpressions":[{"key":"kubernetes.io/metadata.name","operator":"NotIn","values":["kube-system","tenantward-system"]}]}}`

// Webhook records every admission request it is sent and allows it.
type Webhook struct {
	// Recorder receives one record per request.
	Recorder Recorder
	// Namespaces reads the tenancy labels of the namespace acted in; nil leaves
	// organization and workspace to FromAdmission's conventions.
	Namespaces client.Reader
}

// Handle implements admission.Handler.
func (w *Webhook) Handle(ctx context.Context, req admission.Request) admission.Response {
	changes, err := ChangesFromAdmission(req)
	reason := ""
	if err != nil {
		// The API server only sends objects it has decoded; record the request anyway.
		reason = fmt.Sprintf("no change summary: %v", err)
	}
	rec := FromAdmission(req, DecisionAllowed, reason, changes)
	if req.Namespace != "" && w.Namespaces != nil {
		ns := &corev1.Namespace{}
		if err := w.Namespaces.Get(ctx, client.ObjectKey{Name: req.Namespace}, ns); err == nil {
			rec.SetTenancy(ns.Labels)
		}
	}
	w.Recorder.Record(ctx, rec)
	return admission.Allowed("")
}

// SetupWebhook registers the audit-only webhook on the manager's webhook server.
// Namespace tenancy is read from the manager's cache, whose Namespace informer
// is requested here so that it starts with the cache rather than on the first
// admission.
func SetupWebhook(ctx context.Context, mgr ctrl.Manager, r Recorder) error {
	if _, err := mgr.GetCache().GetInformer(ctx, &corev1.Namespace{}); err != nil {
		return fmt.Errorf("audit webhook: namespace informer: %w", err)
	}
	mgr.GetWebhookServer().Register(WebhookPath, &admission.Webhook{Handler: &Webhook{Recorder: r, Namespaces: mgr.GetCache()}})
	return nil
}
