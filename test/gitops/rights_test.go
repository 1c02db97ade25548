package gitops

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/config/rbac"
	"github.com/tenantward/tenantward/internal/controlplane"
	"github.com/tenantward/tenantward/internal/testenv"
	"github.com/tenantward/tenantward/internal/verifier"
)

// TestGitOps walks each kind through its states (see walk_test.go), runs a
// standalone verifier as its service account, has a tenant ask the tenant
// view through the kube-apiserver, and then reads the API
// server's audit log of this run: the operator was never refused, and used
// every right its installed roles grant.
func TestGitOps(t *testing.T) {
	walks := []struct {
		kind string
		walk func(*testing.T)
	}{
		{"Organization", walkOrganization},
		{"Workspace", walkWorkspace},
		{"Membership", walkMembership},
		{"APIKey", walkAPIKey},
		{"IntegrationPolicy", walkIntegrationPolicy},
	}
	walked := true
	for _, w := range walks {
		walked = t.Run(w.kind, w.walk) && walked
	}
	walked = t.Run("StandaloneVerifier", runStandaloneVerifier) && walked
	walked = t.Run("TenantView", runTenantView) && walked
	events := readAudit(t)
	// A refusal explains a failed walk best: checked whatever happened.
	t.Run("NeverForbidden", func(t *testing.T) { neverForbidden(t, events) })
	if walked {
		t.Run("EveryRightUsed", func(t *testing.T) { everyRightUsed(t, events) })
	}
}

// runStandaloneVerifier starts tenantward-verifier's server as its own
// service account, waits until it has loaded the APIKeys, and has it and the
// embedded verifier record a key's use (useKey).
func runStandaloneVerifier(t *testing.T) {
	v, err := verifier.New(op.Identities.Verifier.Config(), verifier.Options{HTTPAddr: "127.0.0.1:0", Usage: usageOptions})
	if err != nil {
		t.Fatal(err)
	}
	vctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- v.Start(vctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the verifier stopped with %v", err)
		}
	}()
	select {
	case <-v.Ready():
	case err := <-done:
		done <- err
		t.Fatalf("the verifier stopped: %v", err)
	case <-time.After(testenv.PollTimeout):
		t.Fatal("the verifier did not load the APIKeys as its service account")
	}
	useKey(t, "http://"+v.HTTPAddr())
}

// auditEvent is what the checks read of an audit.k8s.io/v1 Event.
type auditEvent struct {
	Stage string `json:"stage"`
	Verb  string `json:"verb"`
	User  struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef *struct {
		APIGroup    string `json:"apiGroup"`
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
	RequestObject *struct {
		RoleRef *rbacv1.RoleRef `json:"roleRef"`
	} `json:"requestObject"`
	RequestURI string `json:"requestURI"`
}

// right is one verb on one resource (with its subresource) of a group.
type right struct{ user, group, resource, verb string }

func (r right) String() string {
	return fmt.Sprintf("%s %s.%s", r.verb, r.resource, r.group)
}

func (e auditEvent) right() right {
	res := e.ObjectRef.Resource
	if e.ObjectRef.Subresource != "" {
		res += "/" + e.ObjectRef.Subresource
	}
	return right{e.User.Username, e.ObjectRef.APIGroup, res, e.Verb}
}

func readAudit(t *testing.T) []auditEvent {
	t.Helper()
	f, err := os.Open(op.APIServerAuditLog)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var out []auditEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e auditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("decoding the audit log: %v", err)
		}
		if e.ObjectRef != nil && e.ResponseStatus != nil {
			out = append(out, e)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("the audit log holds no request of the operator")
	}
	return out
}

// neverForbidden: a right the installed roles lack shows as a 403 here, even
// where the operator only retries and logs.
func neverForbidden(t *testing.T, events []auditEvent) {
	for _, e := range events {
		if e.ResponseStatus.Code == 403 {
			t.Errorf("%s was refused %s (%s): the installed role lacks a right the operator needs", e.User.Username, e.right(), e.RequestURI)
		}
	}
}

// notExercisedHere are the installed rights this run cannot use, each with the
// test that does. Nothing else may go unused.
var notExercisedHere = map[string]string{
	// Event recorders patch an Event when the same event repeats (a series);
	// this run's events do not repeat within the series window.
	"patch events.events.k8s.io": "an event that repeats (client-go's event series)",
	"patch events.":              "an event that repeats (leader election's recorder)",
}

// checkedOnRequest are rights the API server checks, not as a request of their
// own, while it serves another request of the operator (which this run makes
// with OwnerReferencesPermissionEnforcement on): used when that one is.
var checkedOnRequest = map[string]right{
	// The delivery Secret's owner reference blocks its APIKey's deletion.
	"update apikeys/finalizers.access.tenantward.io": {group: "", resource: "secrets", verb: "patch"},
}

// everyRightUsed: each verb on each resource of the installed roles was used
// by this run (a request allowed to the service account), or is granted on in
// a ClusterRole the operator wrote (it must hold a right to grant it without
// escalate); each bind/escalate name was bound and written.
func everyRightUsed(t *testing.T, events []auditEvent) {
	manager := controlplane.ServiceAccountUser(controlplane.OperatorNamespace, controlplane.ManagerServiceAccount).Name
	verifierUser := controlplane.ServiceAccountUser(controlplane.OperatorNamespace, controlplane.VerifierServiceAccount).Name
	used := map[right]bool{}
	written, bound := map[string]bool{}, map[string]bool{}
	for _, e := range events {
		if e.ResponseStatus.Code >= 400 && e.ResponseStatus.Code != 404 && e.ResponseStatus.Code != 409 {
			continue
		}
		r := e.right()
		used[r] = true
		switch {
		case r.verb == "patch" && e.ResponseStatus.Code == 201:
			// A server-side apply that creates the object is authorized as create too.
			used[right{r.user, r.group, r.resource, "create"}] = true
		case r.verb == "watch" && strings.Contains(e.RequestURI, "sendInitialEvents=true"):
			// client-go's streaming list (a watch that starts with every object)
			// stands for the LIST it falls back to where the server has no watch-list.
			used[right{r.user, r.group, r.resource, "list"}] = true
		}
		if r.group == rbacv1.GroupName && r.resource == "clusterroles" && (r.verb == "patch" || r.verb == "create") {
			written[e.ObjectRef.Name] = true
		}
		if e.RequestObject != nil && e.RequestObject.RoleRef != nil {
			bound[e.RequestObject.RoleRef.Name] = true
		}
	}
	granted := grantedByOperator(t)
	for file, user := range map[string]string{"role.yaml": manager, "leader_election_role.yaml": manager, "verifier/role.yaml": verifierUser} {
		for _, rule := range installedRules(t, file) {
			if len(rule.ResourceNames) > 0 {
				for _, name := range rule.ResourceNames {
					if slices.Contains(rule.Verbs, "escalate") && !written[name] {
						t.Errorf("config/rbac/%s: escalate on ClusterRole %s is unused: the operator never wrote it", file, name)
					}
					if slices.Contains(rule.Verbs, "bind") && !bound[name] {
						t.Errorf("config/rbac/%s: bind on ClusterRole %s is unused: the operator never bound it", file, name)
					}
				}
				continue
			}
			for _, g := range rule.APIGroups {
				for _, res := range rule.Resources {
					for _, verb := range rule.Verbs {
						r := right{user, g, res, verb}
						if used[r] || granted[right{group: g, resource: res, verb: verb}] {
							continue
						}
						if on, ok := checkedOnRequest[r.String()]; ok && used[right{user, on.group, on.resource, on.verb}] {
							continue
						}
						if why, ok := notExercisedHere[r.String()]; ok {
							t.Logf("config/rbac/%s: %s is exercised by %s", file, r, why)
							continue
						}
						t.Errorf("config/rbac/%s grants %s, which no request of this run used: a dead right (remove its marker)", file, r)
					}
				}
			}
		}
	}
}

// installedRules reads the rules of a role file of config/rbac.
func installedRules(t *testing.T, file string) []rbacv1.PolicyRule {
	t.Helper()
	raw, err := rbac.Files.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var rules []rbacv1.PolicyRule
	for _, doc := range strings.Split(string(raw), "\n---") {
		var role rbacv1.ClusterRole
		if err := yaml.Unmarshal([]byte(doc), &role); err != nil {
			t.Fatalf("config/rbac/%s: %v", file, err)
		}
		rules = append(rules, role.Rules...)
	}
	return rules
}

// grantedByOperator are the rights in the per-organization ClusterRoles the
// operator wrote without escalate: RBAC lets it grant only what it holds.
func grantedByOperator(t *testing.T) map[right]bool {
	t.Helper()
	roles := &rbacv1.ClusterRoleList{}
	if err := admin.List(ctx, roles, client.HasLabels{accessv1alpha1.LabelOrganization}, client.MatchingLabels{accessv1alpha1.LabelManagedBy: accessv1alpha1.ManagedByValue}); err != nil {
		t.Fatal(err)
	}
	out := map[right]bool{}
	for _, role := range roles.Items {
		for _, rule := range role.Rules {
			for _, g := range rule.APIGroups {
				for _, res := range rule.Resources {
					for _, verb := range rule.Verbs {
						out[right{group: g, resource: res, verb: verb}] = true
					}
				}
			}
		}
	}
	return out
}
