package packaging

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// secretVerbs is everything the operator may do to Secrets: it writes each
// APIKey's delivery Secret with server-side apply, reads them through a cache,
// and removes them when their key is revoked. No deletecollection, no wildcard.
var secretVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete"}

// dangerous are subresources that would let the operator act as someone else
// or reach into workloads; it needs none of them.
var dangerous = []string{"pods/exec", "pods/attach", "pods/portforward", "nodes/proxy",
	"serviceaccounts/token", "certificatesigningrequests/approval", "signers"}

// TestRenderedRBACIsLeastPrivilege checks the roles every install renders: no
// wildcards anywhere; Secrets only for the manager and only with the verbs it
// needs; bind and escalate only on named roles; webhook configurations written
// only by name; no impersonation or exec;
// bindings only to roles the install itself defines (and the one role every
// cluster defines for aggregated API servers, read in kube-system only); the
// standalone verifier may only list and watch APIKeys and Organizations, and
// get and patch APIKey status (the webhook lets it write lastUsedAt alone).
func TestRenderedRBACIsLeastPrivilege(t *testing.T) {
	for _, in := range renderAll(t) {
		t.Run(in.name, func(t *testing.T) {
			roles := map[string][]rbacv1.PolicyRule{} // "<Kind>/<name>" -> rules
			for _, o := range in.ofKind("ClusterRole", "Role") {
				var r rbacv1.ClusterRole // Role has the same rules field
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &r); err != nil {
					t.Fatalf("decoding %s %s: %v", o.GetKind(), o.GetName(), err)
				}
				if r.AggregationRule != nil {
					t.Errorf("%s %s aggregates other roles: its rules are not visible in the install", o.GetKind(), o.GetName())
				}
				roles[o.GetKind()+"/"+o.GetName()] = r.Rules
				for i, rule := range r.Rules {
					for _, problem := range ruleProblems(o.GetName(), rule) {
						t.Errorf("%s %s rule %d: %s", o.GetKind(), o.GetName(), i, problem)
					}
				}
			}
			if len(roles) == 0 {
				t.Fatal("renders no roles")
			}
			for _, o := range in.ofKind("ClusterRoleBinding", "RoleBinding") {
				var b rbacv1.RoleBinding
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &b); err != nil {
					t.Fatalf("decoding %s %s: %v", o.GetKind(), o.GetName(), err)
				}
				if isAuthReaderBinding(o.GetKind(), o.GetNamespace(), b.RoleRef) {
					continue
				}
				if _, ok := roles[b.RoleRef.Kind+"/"+b.RoleRef.Name]; !ok {
					t.Errorf("%s %s binds %s %s, which this install does not define", o.GetKind(), o.GetName(), b.RoleRef.Kind, b.RoleRef.Name)
				}
			}
			for name, rules := range roles {
				if isVerifierRole(name) {
					want := []rbacv1.PolicyRule{
						{APIGroups: []string{"access.tenantward.io"}, Resources: []string{"apikeys", "organizations"}, Verbs: []string{"list", "watch"}},
						{APIGroups: []string{"access.tenantward.io"}, Resources: []string{"apikeys/status"}, Verbs: []string{"get", "patch"}},
					}
					if fmt.Sprint(rules) != fmt.Sprint(want) {
						t.Errorf("%s grants %v; the verifier may only list and watch APIKeys and Organizations, and get and patch APIKey status (lastUsedAt)", name, rules)
					}
				}
			}
		})
	}
}

// ruleProblems says what is wrong with one rule of the named role.
func ruleProblems(role string, r rbacv1.PolicyRule) []string {
	var out []string
	for field, values := range map[string][]string{"apiGroups": r.APIGroups, "resources": r.Resources,
		"verbs": r.Verbs, "resourceNames": r.ResourceNames, "nonResourceURLs": r.NonResourceURLs} {
		if slices.Contains(values, "*") {
			out = append(out, fmt.Sprintf("wildcard in %s", field))
		}
	}
	if len(r.NonResourceURLs) > 0 {
		out = append(out, fmt.Sprintf("non-resource URLs %v", r.NonResourceURLs))
	}
	for _, res := range r.Resources {
		if slices.Contains(dangerous, res) {
			out = append(out, fmt.Sprintf("access to %s", res))
		}
	}
	if slices.Contains(r.Verbs, "impersonate") {
		out = append(out, "the impersonate verb")
	}
	if slices.Contains(r.Verbs, "bind") || slices.Contains(r.Verbs, "escalate") {
		onRoles := slices.Contains(r.APIGroups, rbacv1.GroupName) && len(r.Resources) > 0 &&
			!slices.ContainsFunc(r.Resources, func(res string) bool { return res != "clusterroles" && res != "roles" })
		if !onRoles || len(r.ResourceNames) == 0 {
			out = append(out, fmt.Sprintf("bind/escalate must name the roles it applies to (resourceNames), got %+v", r))
		}
	}
	webhookConfigs := slices.Contains(r.Resources, "validatingwebhookconfigurations") || slices.Contains(r.Resources, "mutatingwebhookconfigurations")
	if webhookConfigs && len(r.ResourceNames) == 0 && slices.ContainsFunc(r.Verbs, func(v string) bool { return v != "get" && v != "list" && v != "watch" }) {
		out = append(out, "writes to webhook configurations must name them (resourceNames): it could switch off other products' webhooks")
	}
	if slices.Contains(r.Resources, "secrets") && (r.APIGroups == nil || slices.Contains(r.APIGroups, "")) {
		if isVerifierRole(role) {
			out = append(out, "the verifier reads no Secrets")
		}
		for _, v := range r.Verbs {
			if !slices.Contains(secretVerbs, v) {
				out = append(out, fmt.Sprintf("verb %q on Secrets (allowed: %v)", v, secretVerbs))
			}
		}
	}
	return out
}

// isAuthReaderBinding: the tenant view's delegated authentication reads
// ConfigMap kube-system/extension-apiserver-authentication (the front-proxy CA)
// through the Role every cluster defines for it, bound in kube-system.
func isAuthReaderBinding(kind, namespace string, ref rbacv1.RoleRef) bool {
	return kind == "RoleBinding" && namespace == "kube-system" && ref.Kind == "Role" && ref.Name == "extension-apiserver-authentication-reader"
}

func isVerifierRole(name string) bool { return strings.HasSuffix(name, "-verifier") }

// TestRuleProblemsCatchesOverreach shows the checker above refuses what it promises to.
func TestRuleProblemsCatchesOverreach(t *testing.T) {
	core, rbac := []string{""}, []string{rbacv1.GroupName}
	for _, tc := range []struct {
		name string
		role string
		rule rbacv1.PolicyRule
		want string // a fragment of the problem; "" for none
	}{
		{"wildcard verbs", "m", rbacv1.PolicyRule{APIGroups: core, Resources: []string{"configmaps"}, Verbs: []string{"*"}}, "wildcard in verbs"},
		{"wildcard resources", "m", rbacv1.PolicyRule{APIGroups: core, Resources: []string{"*"}, Verbs: []string{"get"}}, "wildcard in resources"},
		{"wildcard groups", "m", rbacv1.PolicyRule{APIGroups: []string{"*"}, Resources: []string{"pods"}, Verbs: []string{"get"}}, "wildcard in apiGroups"},
		{"bind without names", "m", rbacv1.PolicyRule{APIGroups: rbac, Resources: []string{"clusterroles"}, Verbs: []string{"bind"}}, "resourceNames"},
		{"escalate on bindings", "m", rbacv1.PolicyRule{APIGroups: rbac, Resources: []string{"rolebindings"}, ResourceNames: []string{"x"}, Verbs: []string{"escalate"}}, "resourceNames"},
		{"bind by name", "m", rbacv1.PolicyRule{APIGroups: rbac, Resources: []string{"clusterroles"}, ResourceNames: []string{"tenantward:org-owner"}, Verbs: []string{"bind", "escalate"}}, ""},
		{"secret deletecollection", "m", rbacv1.PolicyRule{APIGroups: core, Resources: []string{"secrets"}, Verbs: []string{"deletecollection"}}, "verb \"deletecollection\" on Secrets"},
		{"secrets for the verifier", "tw-verifier", rbacv1.PolicyRule{APIGroups: core, Resources: []string{"secrets"}, Verbs: []string{"get"}}, "the verifier reads no Secrets"},
		{"delivery secrets", "m", rbacv1.PolicyRule{APIGroups: core, Resources: []string{"secrets"}, Verbs: []string{"get", "list", "watch", "create", "patch", "delete"}}, ""},
		{"impersonate", "m", rbacv1.PolicyRule{APIGroups: core, Resources: []string{"users"}, Verbs: []string{"impersonate"}}, "impersonate"},
		{"exec", "m", rbacv1.PolicyRule{APIGroups: core, Resources: []string{"pods/exec"}, Verbs: []string{"create"}}, "pods/exec"},
		{"patch any webhook", "m", rbacv1.PolicyRule{APIGroups: []string{"admissionregistration.k8s.io"}, Resources: []string{"validatingwebhookconfigurations"}, Verbs: []string{"get", "patch"}}, "must name them"},
		{"patch our webhook", "m", rbacv1.PolicyRule{APIGroups: []string{"admissionregistration.k8s.io"}, Resources: []string{"validatingwebhookconfigurations"}, ResourceNames: []string{"tenantward"}, Verbs: []string{"get", "patch"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := fmt.Sprint(ruleProblems(tc.role, tc.rule))
			if tc.want == "" && got != "[]" {
				t.Errorf("want no problem, got %s", got)
			}
			if tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("want a problem containing %q, got %s", tc.want, got)
			}
		})
	}
}
