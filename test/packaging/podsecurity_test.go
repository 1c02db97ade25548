package packaging

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// restrictedNamespace enforces the restricted Pod Security profile, so the
// API server's own PodSecurity admission judges the rendered pods.
const restrictedNamespace = "psa-restricted"

// TestRenderedPodsPassRestrictedPodSecurity creates, with server-side dry-run,
// a Pod from every rendered Deployment's template in a namespace that enforces
// the restricted profile; the API server rejects any violation. A loosened
// copy must be rejected, which shows the profile is enforced.
func TestRenderedPodsPassRestrictedPodSecurity(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: restrictedNamespace, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce":         "restricted",
		"pod-security.kubernetes.io/enforce-version": "latest",
	}}}
	if _, err := clientset.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}

	for _, in := range renderAll(t) {
		t.Run(in.name, func(t *testing.T) {
			deployments := in.ofKind("Deployment")
			if len(deployments) == 0 {
				t.Fatal("renders no Deployment")
			}
			for _, o := range deployments {
				var d appsv1.Deployment
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d); err != nil {
					t.Fatal(err)
				}
				pod := podOf(&d)
				ensureServiceAccount(ctx, t, pod.Spec.ServiceAccountName)
				if err := createDryRun(ctx, pod); err != nil {
					t.Errorf("Deployment %s: the restricted Pod Security profile refuses its pods: %v", d.Name, err)
				}

				loosened := pod.DeepCopy()
				escalate := true
				loosened.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = &escalate
				err := createDryRun(ctx, loosened)
				if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "PodSecurity") {
					t.Errorf("Deployment %s with allowPrivilegeEscalation=true: want a PodSecurity refusal, got %v", d.Name, err)
				}
			}
		})
	}
}

func podOf(d *appsv1.Deployment) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: d.Name + "-", Namespace: restrictedNamespace, Labels: d.Spec.Template.Labels},
		Spec:       *d.Spec.Template.Spec.DeepCopy(),
	}
}

func createDryRun(ctx context.Context, pod *corev1.Pod) error {
	_, err := clientset.CoreV1().Pods(restrictedNamespace).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	return err
}

// ensureServiceAccount creates the pod's ServiceAccount, which pod admission requires.
func ensureServiceAccount(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: restrictedNamespace}}
	if _, err := clientset.CoreV1().ServiceAccounts(restrictedNamespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}
