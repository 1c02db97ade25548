package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/audit"
	"github.com/tenantward/tenantward/internal/authz"
	"github.com/tenantward/tenantward/internal/integrationpolicy"
	"github.com/tenantward/tenantward/internal/tenancy"
)

// decisions counts admission decisions by kind, operation and decision.
var decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "tenantward_webhook_decisions_total",
	Help: "Admission decisions of the tenantward webhooks by kind, operation and decision (allowed, denied, error).",
}, []string{"kind", "operation", "decision"})

func init() { metrics.Registry.MustRegister(decisions) }

// Validator serves the admission webhooks. It reads tenancy, Memberships and
// IntegrationPolicies from the manager's cache and asks the API server only
// for SubjectAccessReviews (the rotate verb).
type Validator struct {
	Resolver *Resolver
	// Reader reads IntegrationPolicies and Memberships from the manager's cache.
	Reader client.Reader
	// Client creates SubjectAccessReviews.
	Client   client.Client
	Platform *Platform
	// Features maps each gated resource to its permission-table feature.
	Features map[schema.GroupResource]authz.Feature
	Audit    audit.Recorder
	// Reserved are the namespaces no Organization or Workspace may use.
	Reserved tenancy.Reserved
	// Verifier is the key verifier's user name, the only writer of an
	// APIKey's status.lastUsedAt (LastUsedRule).
	Verifier string
}

// decideFunc decides one request. errs are the denial; err is a failure to decide.
type decideFunc func(ctx context.Context, req admission.Request) (a Attempt, errs field.ErrorList, err error)

// handler wraps a decision with what every webhook does: namespace cleanup is
// let through, a status write is the operator's (StatusRule), the operator's
// finalizer stays and its labels and annotations are not a tenant's to
// change (FinalizerRule, MetadataRule), for every kind; the answer is
// turned into an AdmissionResponse, counted and audited. A request the webhook
// cannot decide is refused (and audited as such).
func (v *Validator) handler(decide decideFunc) admission.Handler {
	return admission.HandlerFunc(func(ctx context.Context, req admission.Request) admission.Response {
		if req.Operation == admissionv1.Delete && v.terminating(req.Namespace) {
			return v.answer(ctx, req, Attempt{}, admission.Allowed("namespace is being deleted"), audit.DecisionAllowed)
		}
		decideReq := decide
		if req.SubResource == "status" {
			decideReq = v.status
		}
		a, errs, err := decideReq(ctx, req)
		if r := (refusal{}); errors.As(err, &r) {
			errs, err = append(errs, r.err), nil
		}
		// Both rules leave platform identities alone: decode the metadata only for tenants.
		if err == nil && !a.Who.Platform && req.SubResource == "" && req.Operation != admissionv1.Delete {
			var old, updated Metadata
			if len(req.OldObject.Raw) > 0 {
				old, err = metadataOf(req.OldObject.Raw)
			}
			if err == nil {
				updated, err = metadataOf(req.Object.Raw)
			}
			errs = append(errs, FinalizerRule(a, old.Finalizers, updated.Finalizers)...)
			errs = append(errs, MetadataRule(a, old, updated)...)
		}
		switch {
		case err != nil:
			code := int32(http.StatusInternalServerError)
			if errors.As(err, new(decodeError)) {
				code = http.StatusBadRequest
			}
			return v.answer(ctx, req, a, admission.Errored(code, err), "error")
		case len(errs) > 0:
			status := denial(req, errs)
			resp := admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Allowed: false, Result: &status.ErrStatus}}
			return v.answer(ctx, req, a, resp, audit.DecisionDenied)
		}
		return v.answer(ctx, req, a, admission.Allowed(""), audit.DecisionAllowed)
	})
}

// answer counts the decision ("error" in the metric, a denial in the audit
// trail for requests that could not be decided), audits it and returns resp.
func (v *Validator) answer(ctx context.Context, req admission.Request, a Attempt, resp admission.Response, decision string) admission.Response {
	decisions.WithLabelValues(req.Kind.Kind, string(req.Operation), decision).Inc()
	reason := ""
	if resp.Result != nil {
		reason = resp.Result.Message
	}
	if decision == "error" {
		decision = audit.DecisionDenied
	}
	changes, err := audit.ChangesFromAdmission(req)
	if err != nil {
		changes = nil
	}
	rec := audit.FromAdmission(req, decision, reason, changes)
	if a.Where.Organization != "" {
		rec.Organization, rec.Workspace = a.Where.Organization, a.Where.Workspace
	}
	v.Audit.Record(ctx, rec)
	return resp
}

// denial is Forbidden when every error is a permission error, Invalid otherwise.
func denial(req admission.Request, errs field.ErrorList) *apierrors.StatusError {
	for _, e := range errs {
		if e.Type != field.ErrorTypeForbidden {
			return apierrors.NewInvalid(schema.GroupKind{Group: req.Kind.Group, Kind: req.Kind.Kind}, req.Name, errs)
		}
	}
	return apierrors.NewForbidden(schema.GroupResource{Group: req.Resource.Group, Resource: req.Resource.Resource}, req.Name, errs.ToAggregate())
}

// terminating reports whether a namespace is being deleted: its contents are
// cleaned up by the namespace controller, which no rule should stop.
func (v *Validator) terminating(name string) bool {
	ns, err := v.Resolver.Namespace(name)
	if err != nil || ns == nil {
		return false
	}
	return ns.Status.Phase == corev1.NamespaceTerminating || !ns.DeletionTimestamp.IsZero()
}

// attempt identifies the requester and, for tenants, their roles in t.
func (v *Validator) attempt(req admission.Request, t Tenancy) (Attempt, error) {
	a := v.requester(req, t)
	if a.Who.Platform {
		return a, nil
	}
	var err error
	a.Roles, err = v.Resolver.Roles(a.Who, t)
	return a, err
}

// status decides a write to a status subresource (StatusRule; LastUsedRule for an APIKey).
func (v *Validator) status(_ context.Context, req admission.Request) (Attempt, field.ErrorList, error) {
	a, err := v.namespaced(req)
	if err != nil {
		return a, nil, err
	}
	if req.Kind.Kind == "APIKey" {
		return v.apiKeyStatus(a, req)
	}
	return a, StatusRule(a), nil
}

// requester is the Attempt of req in t without roles.
func (v *Validator) requester(req admission.Request, t Tenancy) Attempt {
	return Attempt{Who: v.Platform.Requester(req.UserInfo), Where: t, Operation: req.Operation, Kind: req.Kind.Kind, Name: req.Name}
}

// namespaced resolves the tenancy of req's namespace and the requester's roles there.
func (v *Validator) namespaced(req admission.Request) (Attempt, error) {
	t, err := v.Resolver.Tenancy(req.Namespace)
	return v.tenant(req, t, err)
}

// tenant is the Attempt of req in t, resolved with err: in a stale namespace
// (StaleNamespaceError) only platform identities act, a tenant is refused (a
// refusal) whatever Memberships the namespace holds.
func (v *Validator) tenant(req admission.Request, t Tenancy, err error) (Attempt, error) {
	var stale *StaleNamespaceError
	if errors.As(err, &stale) {
		a := v.requester(req, t)
		if a.Who.Platform {
			return a, nil
		}
		return a, refusal{StaleRule(a, stale.Reason)}
	}
	if err != nil {
		return Attempt{}, err
	}
	return v.attempt(req, t)
}

// refusal is a denial found while resolving a request, before its rule runs.
type refusal struct{ err *field.Error }

func (r refusal) Error() string { return r.err.Error() }

// decodeError is a request whose objects do not decode: the sender's fault.
type decodeError struct{ error }

func (e decodeError) Unwrap() error { return e.error }

// metadataOf decodes an object's metadata.finalizers, labels and annotations.
func metadataOf(raw []byte) (Metadata, error) {
	var obj struct {
		Metadata Metadata `json:"metadata"`
	}
	if err := utiljson.Unmarshal(raw, &obj); err != nil {
		return Metadata{}, decodeError{fmt.Errorf("decoding metadata: %w", err)}
	}
	return obj.Metadata, nil
}

// decodePair decodes the old and new objects of a request; each is nil when
// the request has none (no old object on create, no new one on delete). The
// API server sends objects of the version the webhook registered for, so a
// case-sensitive JSON decode into the type is enough (no scheme conversion).
func decodePair[T runtime.Object](req admission.Request, newT func() T) (old, updated T, err error) {
	if len(req.OldObject.Raw) > 0 {
		old = newT()
		if err := utiljson.Unmarshal(req.OldObject.Raw, old); err != nil {
			return old, updated, decodeError{fmt.Errorf("decoding the old %s: %w", req.Kind.Kind, err)}
		}
	}
	if len(req.Object.Raw) > 0 && req.Operation != admissionv1.Delete {
		updated = newT()
		if err := utiljson.Unmarshal(req.Object.Raw, updated); err != nil {
			return old, updated, decodeError{fmt.Errorf("decoding the %s: %w", req.Kind.Kind, err)}
		}
	}
	return old, updated, nil
}

func (v *Validator) membership(ctx context.Context, req admission.Request) (Attempt, field.ErrorList, error) {
	old, updated, err := decodePair(req, func() *accessv1alpha1.Membership { return &accessv1alpha1.Membership{} })
	if err != nil {
		return Attempt{}, nil, err
	}
	a, err := v.namespaced(req)
	if err != nil {
		return a, nil, err
	}
	var checks MembershipChecks
	if old != nil && old.Spec.Role == accessv1alpha1.RoleOwner && a.Where.Scope() == authz.ScopeOrganization {
		if checks.OtherOwners, err = v.otherOwners(ctx, old); err != nil {
			return a, nil, err
		}
	}
	if updated != nil {
		checks.PlatformSubject = v.Platform.Names(updated.Spec.Subject)
	}
	return a, MembershipRule(a, old, updated, checks), nil
}

// otherOwners counts the owner Memberships of old's org namespace besides old
// that are not being deleted.
func (v *Validator) otherOwners(ctx context.Context, old *accessv1alpha1.Membership) (int, error) {
	list := &accessv1alpha1.MembershipList{}
	if err := v.Reader.List(ctx, list, client.InNamespace(old.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return 0, err
	}
	n := 0
	for i := range list.Items {
		if m := &list.Items[i]; m.Name != old.Name && m.Spec.Role == accessv1alpha1.RoleOwner && m.DeletionTimestamp.IsZero() {
			n++
		}
	}
	return n, nil
}

func (v *Validator) organization(ctx context.Context, req admission.Request) (Attempt, field.ErrorList, error) {
	old, updated, err := decodePair(req, func() *accessv1alpha1.Organization { return &accessv1alpha1.Organization{} })
	if err != nil {
		return Attempt{}, nil, err
	}
	org := updated
	if org == nil {
		org = old
	}
	t, err := v.Resolver.OrganizationTenancy(org)
	a, err := v.tenant(req, t, err)
	if err != nil {
		return a, nil, err
	}
	errs := append(OrganizationRule(a, old, updated, v.Reserved), OrganizationPolicyRule(a, old, updated)...)
	if req.Operation == admissionv1.Delete && len(req.Options.Raw) > 0 {
		opts := &metav1.DeleteOptions{}
		if err := utiljson.Unmarshal(req.Options.Raw, opts); err != nil {
			return a, nil, decodeError{fmt.Errorf("decoding the delete options: %w", err)}
		}
		errs = append(errs, ForegroundRule(a, old, opts.PropagationPolicy)...)
	}
	return a, errs, nil
}

func (v *Validator) workspace(ctx context.Context, req admission.Request) (Attempt, field.ErrorList, error) {
	old, updated, err := decodePair(req, func() *accessv1alpha1.Workspace { return &accessv1alpha1.Workspace{} })
	if err != nil {
		return Attempt{}, nil, err
	}
	a, err := v.namespaced(req)
	if err != nil {
		return a, nil, err
	}
	errs := WorkspaceRule(a, updated, v.Reserved)
	if errs == nil {
		_, org, err := v.Resolver.keyCeilings(Tenancy{Organization: a.Where.Organization})
		if err != nil {
			return a, nil, err
		}
		errs = WorkspacePolicyRule(a, old, updated, org)
	}
	return a, errs, nil
}

func (v *Validator) apiKey(ctx context.Context, req admission.Request) (Attempt, field.ErrorList, error) {
	a, err := v.namespaced(req)
	if err != nil {
		return a, nil, err
	}
	old, updated, err := decodePair(req, func() *accessv1alpha1.APIKey { return &accessv1alpha1.APIKey{} })
	if err != nil {
		return a, nil, err
	}
	var checks KeyChecks
	if !a.Who.Platform {
		eff, err := v.effective(ctx, a.Where)
		if err != nil {
			return a, nil, err
		}
		checks.Gate = integrationpolicy.Gate(eff)
		if RotationRequested(old, updated) {
			if checks.RotateAllows, err = v.mayRotate(ctx, req); err != nil {
				return a, nil, err
			}
		}
	}
	ws, org, err := v.Resolver.keyCeilings(a.Where)
	if err != nil {
		return a, nil, err
	}
	errs := append(APIKeyRule(a, old, updated, checks), APIKeyPolicyRule(a, old, updated, ws, org)...)
	if updated != nil && updated.Spec.Owner != nil {
		owner, err := v.ownerChecks(*updated.Spec.Owner, a.Where, checks.Gate)
		if err != nil {
			return a, nil, err
		}
		errs = append(errs, PersonalKeyRule(a, old, updated, owner)...)
	}
	return a, errs, nil
}

// mayRotate asks the API server whether the requester holds the rotate verb on
// this APIKey, with a SubjectAccessReview built from the request's userInfo.
func (v *Validator) mayRotate(ctx context.Context, req admission.Request) (bool, error) {
	extra := make(map[string]authorizationv1.ExtraValue, len(req.UserInfo.Extra))
	for k, val := range req.UserInfo.Extra {
		extra[k] = authorizationv1.ExtraValue(val)
	}
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: req.UserInfo.Username, Groups: req.UserInfo.Groups, UID: req.UserInfo.UID, Extra: extra,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: req.Namespace, Verb: authz.VerbRotate, Group: req.Resource.Group,
			Resource: req.Resource.Resource, Name: req.Name,
		},
	}}
	if err := v.Client.Create(ctx, sar); err != nil {
		return false, fmt.Errorf("asking whether %s may rotate: %w", req.UserInfo.Username, err)
	}
	return sar.Status.Allowed, nil
}

func (v *Validator) integrationPolicy(ctx context.Context, req admission.Request) (Attempt, field.ErrorList, error) {
	a, err := v.namespaced(req)
	if err != nil {
		return a, nil, err
	}
	return a, IntegrationPolicyRule(a), nil
}

func (v *Validator) gated(ctx context.Context, req admission.Request) (Attempt, field.ErrorList, error) {
	a, err := v.namespaced(req)
	if err != nil {
		return a, nil, err
	}
	f, ok := v.Features[schema.GroupResource{Group: req.Resource.Group, Resource: req.Resource.Resource}]
	if !ok || a.Who.Platform || a.Where.Scope() == "" {
		return a, nil, nil
	}
	eff, err := v.effective(ctx, a.Where)
	if err != nil {
		return a, nil, err
	}
	var source accessv1alpha1.SettingSource
	if t, ok := integrationpolicy.TypeOf(f); ok {
		_, source = integrationpolicy.ManagersMayWrite(eff, t)
	}
	return a, GatedRule(a, f, integrationpolicy.Gate(eff), source), nil
}

// effective is the effective integration access where t lands.
func (v *Validator) effective(ctx context.Context, t Tenancy) ([]accessv1alpha1.EffectiveIntegrationAccess, error) {
	return integrationpolicy.EffectiveIn(ctx, v.Reader, t.OrgNamespace, t.WorkspaceNamespace)
}
