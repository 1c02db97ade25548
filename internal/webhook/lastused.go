package webhook

import (
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/authz"
)

var lastUsedPath = field.NewPath("status", "lastUsedAt")

// LastUsedRule decides a write to an APIKey's status subresource.
// status.lastUsedAt is the key verifier's (internal/verifier/usage.go): only
// the configured verifier identity changes it, whoever else asks (tenant,
// platform admin, operator), and the verifier changes nothing else: a
// verifier's credentials, which sit beside every gateway, never rewrite a
// key's hash or its placement. The rest of the status is StatusRule's. The
// embedded verifier runs as the operator, a platform identity, which then
// holds both rights.
func LastUsedRule(a Attempt, verifier bool, old, updated *accessv1alpha1.APIKey) field.ErrorList {
	switch {
	case verifier && a.Who.Platform:
		return nil
	case verifier:
		if onlyLastUsed(old, updated) {
			return nil
		}
		return field.ErrorList{a.forbid(field.NewPath("status"),
			"the key verifier writes only status.lastUsedAt of an APIKey, nothing else of it", authz.Key{})}
	case !equality.Semantic.DeepEqual(old.Status.LastUsedAt, updated.Status.LastUsedAt):
		return field.ErrorList{a.forbid(lastUsedPath,
			"status.lastUsedAt is written only by the key verifier (verifierIdentity in the operator configuration), from the verifications it answers", authz.Key{})}
	}
	return StatusRule(a)
}

// onlyLastUsed reports whether updated differs from old at most in
// status.lastUsedAt (and the metadata the API server maintains).
func onlyLastUsed(old, updated *accessv1alpha1.APIKey) bool {
	o, u := old.DeepCopy(), updated.DeepCopy()
	o.Status.LastUsedAt, u.Status.LastUsedAt = nil, nil
	return equality.Semantic.DeepEqual(o.Spec, u.Spec) && equality.Semantic.DeepEqual(o.Status, u.Status) &&
		equality.Semantic.DeepEqual(o.Labels, u.Labels) && equality.Semantic.DeepEqual(o.Annotations, u.Annotations) &&
		equality.Semantic.DeepEqual(o.Finalizers, u.Finalizers) && equality.Semantic.DeepEqual(o.OwnerReferences, u.OwnerReferences)
}

// apiKeyStatus decides a write to an APIKey's status subresource (LastUsedRule).
func (v *Validator) apiKeyStatus(a Attempt, req admission.Request) (Attempt, field.ErrorList, error) {
	old, updated, err := decodePair(req, func() *accessv1alpha1.APIKey { return &accessv1alpha1.APIKey{} })
	if err != nil || old == nil || updated == nil {
		return a, StatusRule(a), err
	}
	return a, LastUsedRule(a, req.UserInfo.Username == v.Verifier, old, updated), nil
}
