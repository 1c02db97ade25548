package verifier

import (
	rbacv1 "k8s.io/api/rbac/v1"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
)

// PolicyRules is all the access a verifier needs: list and watch APIKeys
// (whose status holds only hashes) and Organizations (a key of an
// organization that is gone does not verify), and no Secrets.
// config/rbac/verifier_role.yaml and the chart grant the same to a standalone
// verifier (test/packaging checks they match).
var PolicyRules = []rbacv1.PolicyRule{{
	APIGroups: []string{accessv1alpha1.GroupVersion.Group},
	Resources: []string{"apikeys", "organizations"},
	Verbs:     []string{"list", "watch"},
}}
