package webhook_test

import (
	"fmt"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tenantward/tenantward/api/v1alpha1"
)

// TestMembershipsNeverNamePlatformOrSystemIdentities replays an organization
// owner handing the organization to cluster-wide or platform identities.
func TestMembershipsNeverNamePlatformOrSystemIdentities(t *testing.T) {
	tn := newTenant(t)
	owner := as(t, tn.owner)
	subject := func(s v1.Subject) *v1.Membership {
		m := membership(tn.orgNS, "", v1.RoleAdmin)
		m.Spec.Subject = s
		return m
	}
	denied(t, "admin for every authenticated user", owner.Create(testCtx, subject(v1.Subject{Kind: v1.SubjectGroup, Name: "system:authenticated"})),
		"spec.subject", "never names a system: identity")
	denied(t, "admin for user system:admin", owner.Create(testCtx, subject(v1.Subject{Kind: v1.SubjectUser, Name: "system:admin"})),
		"never names a system: identity")
	denied(t, "admin for the platform's GitOps service account", owner.Create(testCtx,
		subject(v1.Subject{Kind: v1.SubjectServiceAccount, Namespace: "argocd", Name: "applier"})),
		"spec.subject", "ServiceAccount:argocd/applier", "never names a platform identity")
	allowed(t, "admin for a tenant's service account", owner.Create(testCtx,
		subject(v1.Subject{Kind: v1.SubjectServiceAccount, Namespace: "ci", Name: "deployer"}), client.DryRunAll))

	// The operator's own identity here is a client certificate's plain user
	// name (like admin in local mode). It is platform through system:masters,
	// never by name: a tenant's user of that name is just a tenant.
	review := &authenticationv1.SelfSubjectReview{}
	if err := admin.Create(testCtx, review); err != nil {
		t.Fatal(err)
	}
	self := review.Status.UserInfo.Username
	grant(t, tn.orgNS, self, v1.RoleAdmin)
	impostor := as(t, self)
	eventually(t, "the impostor acts as an organization admin", func() error {
		return impostor.Create(testCtx, membership(tn.orgNS, "x", v1.RoleMember), client.DryRunAll)
	})
	denied(t, "the impostor grants owner", impostor.Create(testCtx, membership(tn.orgNS, "x", v1.RoleOwner), client.DryRunAll),
		fmt.Sprintf("user %q (organization admin in %s)", self, tn.org.Name), "nobody grants a role above their own")
	denied(t, "the impostor creates an organization", impostor.Create(testCtx, &v1.Organization{ObjectMeta: metav1.ObjectMeta{Name: unique("rogue")}}),
		"reserved to platform identities")
}

// TestSubjectNamesAreASCII: a look-alike name (a Cyrillic а) or one with
// control characters is refused; its ASCII twin is accepted.
func TestSubjectNamesAreASCII(t *testing.T) {
	tn := newTenant(t)
	owner := as(t, tn.owner)
	for _, name := range []string{"c\u0430rol@acme.example", "carol@acme.example\r\nX-Injected: 1", "\x1b[31mcarol"} {
		denied(t, fmt.Sprintf("subject %q", name), owner.Create(testCtx, membership(tn.orgNS, name, v1.RoleMember)),
			"spec.subject.name", "printable ASCII without spaces or control characters")
	}
	allowed(t, "the ASCII twin", owner.Create(testCtx, membership(tn.orgNS, "carol@acme.example", v1.RoleMember)))
}
