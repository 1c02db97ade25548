package packaging

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/tenantward/tenantward/internal/tenantview"
)

// TestTenantViewIsInstalled checks that every install with the webhooks
// serves the tenant view as one piece: an APIService for
// tenancy.tenantward.io naming a Service of the install that reaches the
// manager's tenant-view port; the manager serving there with the webhook
// certificate, which names that Service (cert-manager's Certificate, or the
// self-managed certificate, whose CA the operator may write into that one
// APIService); the delegated-authentication binding in kube-system; and the
// reader role for every authenticated user. Without the webhooks there is no
// view, and none of it.
func TestTenantViewIsInstalled(t *testing.T) {
	for _, in := range renderAll(t) {
		t.Run(in.name, func(t *testing.T) {
			apis := in.ofKind("APIService")
			manager := managerDeployment(t, in)
			args := managerArgs(manager)
			if args["--enable-webhooks"] == "false" {
				if len(apis) != 0 || args["--tenant-view-port"] != "" {
					t.Errorf("without the webhooks the install serves no tenant view, got %d APIServices and --tenant-view-port=%q", len(apis), args["--tenant-view-port"])
				}
				return
			}
			if len(apis) != 1 || apis[0].GetName() != tenantview.APIService {
				t.Fatalf("want one APIService %s, got %d", tenantview.APIService, len(apis))
			}
			api := apis[0].Object
			svcName, _, _ := unstructured.NestedString(api, "spec", "service", "name")
			svcNS, _, _ := unstructured.NestedString(api, "spec", "service", "namespace")
			svcPort, _, _ := unstructured.NestedFieldNoCopy(api, "spec", "service", "port")
			if svcNS != in.namespace || args["--tenant-view-service-name"] != svcName {
				t.Errorf("APIService names Service %s/%s; the install's namespace is %s and the manager serves for %q", svcNS, svcName, in.namespace, args["--tenant-view-service-name"])
			}
			svc := serviceNamed(t, in, svcName)
			port := slices.IndexFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return fmt.Sprint(p.Port) == fmt.Sprint(svcPort) })
			if port < 0 || svc.Spec.Ports[port].TargetPort.StrVal != "tenant-view" {
				t.Fatalf("Service %s has no port %v to the manager's tenant-view port: %+v", svcName, svcPort, svc.Spec.Ports)
			}
			for k, v := range svc.Spec.Selector {
				if manager.Spec.Template.Labels[k] != v {
					t.Errorf("Service %s selects %s=%s, which the manager's pods do not carry", svcName, k, v)
				}
			}
			c := manager.Spec.Template.Spec.Containers[0]
			cp := slices.IndexFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "tenant-view" })
			if cp < 0 || fmt.Sprint(c.Ports[cp].ContainerPort) != args["--tenant-view-port"] {
				t.Errorf("the manager's tenant-view container port does not match --tenant-view-port=%s", args["--tenant-view-port"])
			}
			if args["--tenant-view-cert-dir"] == "" || args["--tenant-view-cert-dir"] != args["--webhook-cert-dir"] {
				t.Errorf("the view serves from %q, not the webhook certificate's directory %q", args["--tenant-view-cert-dir"], args["--webhook-cert-dir"])
			}
			dnsName := svcName + "." + in.namespace + ".svc"
			if args["--webhook-cert-mode"] == "external" {
				certs := in.ofKind("Certificate")
				ok := slices.ContainsFunc(certs, func(c *unstructured.Unstructured) bool {
					names, _, _ := unstructured.NestedStringSlice(c.Object, "spec", "dnsNames")
					return slices.Contains(names, dnsName)
				})
				inject := apis[0].GetAnnotations()["cert-manager.io/inject-ca-from"]
				if !ok || !strings.HasPrefix(inject, in.namespace+"/") {
					t.Errorf("cert-manager: no Certificate names %s, or the APIService's CA is not injected (%q)", dnsName, inject)
				}
			} else if !grants(t, in, "ClusterRole", "", rbacv1.PolicyRule{APIGroups: []string{"apiregistration.k8s.io"},
				Resources: []string{"apiservices"}, ResourceNames: []string{tenantview.APIService}, Verbs: []string{"get", "patch"}}) {
				t.Errorf("self-managed certificates: no role lets the operator write the caBundle of APIService %s", tenantview.APIService)
			}
			sa := manager.Spec.Template.Spec.ServiceAccountName
			if !bound(t, in, "RoleBinding", "kube-system", "extension-apiserver-authentication-reader", rbacv1.Subject{Kind: "ServiceAccount", Name: sa, Namespace: in.namespace}) {
				t.Errorf("the manager's ServiceAccount %s is not bound to Role extension-apiserver-authentication-reader in kube-system", sa)
			}
			if !grants(t, in, "ClusterRole", "", rbacv1.PolicyRule{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}}) {
				t.Error("the operator may not ask SubjectAccessReviews (the view's delegated authorization)")
			}
			if grants(t, in, "ClusterRole", "", rbacv1.PolicyRule{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}}) {
				t.Error("the operator may create TokenReviews: the view accepts only the callers the aggregation layer forwards and needs none")
			}
			if !grants(t, in, "ClusterRole", "", rbacv1.PolicyRule{APIGroups: []string{"tenancy.tenantward.io"}, Resources: []string{"organizations", "workspaces", "accesses"}, Verbs: []string{"get", "list"}}) ||
				!slices.ContainsFunc(in.ofKind("ClusterRoleBinding"), func(o *unstructured.Unstructured) bool {
					return strings.Contains(o.GetName(), "tenant-view") && strings.Contains(fmt.Sprint(o.Object["subjects"]), "system:authenticated")
				}) {
				t.Error("authenticated users may not read the tenant view")
			}
		})
	}
}

func managerDeployment(t *testing.T, in install) *appsv1.Deployment {
	t.Helper()
	for _, o := range in.ofKind("Deployment") {
		var d appsv1.Deployment
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d); err != nil {
			t.Fatal(err)
		}
		if d.Spec.Template.Spec.Containers[0].Args[0] == "manager" {
			return &d
		}
	}
	t.Fatal("renders no manager Deployment")
	return nil
}

// managerArgs are the manager's --flag=value arguments by flag.
func managerArgs(d *appsv1.Deployment) map[string]string {
	out := map[string]string{}
	for _, a := range d.Spec.Template.Spec.Containers[0].Args {
		k, v, _ := strings.Cut(a, "=")
		out[k] = v
	}
	return out
}

func serviceNamed(t *testing.T, in install, name string) *corev1.Service {
	t.Helper()
	for _, o := range in.ofKind("Service") {
		if o.GetName() == name {
			var s corev1.Service
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &s); err != nil {
				t.Fatal(err)
			}
			return &s
		}
	}
	t.Fatalf("renders no Service %s", name)
	return nil
}

// grants reports whether a role of the kind (in namespace) has a rule that
// covers want: its groups, resources, names (none: any) and verbs.
func grants(t *testing.T, in install, kind, namespace string, want rbacv1.PolicyRule) bool {
	t.Helper()
	for _, o := range in.ofKind(kind) {
		if o.GetNamespace() != namespace {
			continue
		}
		var r rbacv1.ClusterRole
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &r); err != nil {
			t.Fatal(err)
		}
		for _, rule := range r.Rules {
			if covers(rule.APIGroups, want.APIGroups) && covers(rule.Resources, want.Resources) && covers(rule.Verbs, want.Verbs) &&
				(len(rule.ResourceNames) == 0 || covers(rule.ResourceNames, want.ResourceNames)) {
				return true
			}
		}
	}
	return false
}

func covers(have, want []string) bool {
	return !slices.ContainsFunc(want, func(w string) bool { return !slices.Contains(have, w) })
}

// bound reports whether a binding of the kind in namespace binds role to subject.
func bound(t *testing.T, in install, kind, namespace, role string, subject rbacv1.Subject) bool {
	t.Helper()
	for _, o := range in.ofKind(kind) {
		var b rbacv1.RoleBinding
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &b); err != nil {
			t.Fatal(err)
		}
		if b.Namespace == namespace && b.RoleRef.Name == role && slices.ContainsFunc(b.Subjects, func(s rbacv1.Subject) bool {
			return s.Kind == subject.Kind && s.Name == subject.Name && s.Namespace == subject.Namespace
		}) {
			return true
		}
	}
	return false
}
