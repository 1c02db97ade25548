package controllers_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/audit"
)

func TestOrganizationGetsNamespaceAndMasterKey(t *testing.T) {
	name := uniqueName("acme")
	org := createOrganization(t, name)
	if org.Status.Namespace != "org-"+name {
		t.Fatalf("status.namespace = %q, want org-%s", org.Status.Namespace, name)
	}
	ns := &corev1.Namespace{}
	if err := adminClient.Get(testCtx, client.ObjectKey{Name: org.Status.Namespace}, ns); err != nil {
		t.Fatal(err)
	}
	if ns.Labels[accessv1alpha1.LabelOrganization] != name || ns.Labels[accessv1alpha1.LabelManagedBy] != "tenantward" {
		t.Errorf("namespace labels = %v", ns.Labels)
	}
	key := &accessv1alpha1.APIKey{}
	eventually(t, "master key object", func() error {
		return adminClient.Get(testCtx, client.ObjectKey{Namespace: org.Status.Namespace, Name: "master"}, key)
	})
	if key.Labels[accessv1alpha1.LabelMasterKey] != "true" || key.Spec.Permissions.Users != accessv1alpha1.AccessDelete ||
		key.Spec.Permissions.Metrics != accessv1alpha1.ToggleEnabled {
		t.Errorf("master key: labels %v, permissions %+v", key.Labels, key.Spec.Permissions)
	}
	eventually(t, "status counts the master key", func() error {
		if err := adminClient.Get(testCtx, client.ObjectKeyFromObject(org), org); err != nil {
			return err
		}
		if org.Status.APIKeys != 1 || org.Status.MasterKeyName != "master" {
			return fmt.Errorf("apiKeys=%d masterKeyName=%q", org.Status.APIKeys, org.Status.MasterKeyName)
		}
		return nil
	})
}

func TestOrganizationWithoutMasterKey(t *testing.T) {
	org := createOrganization(t, uniqueName("nokey"), func(o *accessv1alpha1.Organization) {
		o.Spec.MasterKey = accessv1alpha1.MasterKeyNone
		o.Spec.Namespace = uniqueName("custom-ns")
	})
	if org.Status.Namespace != org.Spec.Namespace {
		t.Errorf("status.namespace = %q, want spec.namespace %q", org.Status.Namespace, org.Spec.Namespace)
	}
	keys := &accessv1alpha1.APIKeyList{}
	if err := adminClient.List(testCtx, keys, client.InNamespace(org.Status.Namespace)); err != nil {
		t.Fatal(err)
	}
	if len(keys.Items) != 0 || org.Status.MasterKeyName != "" {
		t.Errorf("masterKey None: got %d keys, masterKeyName %q", len(keys.Items), org.Status.MasterKeyName)
	}
}

func TestOrganizationNamespaceClashIsReportedNotAdopted(t *testing.T) {
	name := uniqueName("clash")
	foreign := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "org-" + name, Labels: map[string]string{"team": "someone-else"}}}
	if err := adminClient.Create(testCtx, foreign); err != nil {
		t.Fatal(err)
	}
	org := &accessv1alpha1.Organization{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := adminClient.Create(testCtx, org); err != nil {
		t.Fatal(err)
	}
	eventually(t, "NamespaceConflict condition", func() error {
		if err := adminClient.Get(testCtx, client.ObjectKeyFromObject(org), org); err != nil {
			return err
		}
		c := meta.FindStatusCondition(org.Status.Conditions, accessv1alpha1.ConditionReady)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != "NamespaceConflict" || !strings.Contains(c.Message, "not managed by tenantward") {
			return fmt.Errorf("Ready condition: %+v", c)
		}
		return nil
	})
	if err := adminClient.Get(testCtx, client.ObjectKeyFromObject(foreign), foreign); err != nil {
		t.Fatal(err)
	}
	if _, adopted := foreign.Labels[accessv1alpha1.LabelOrganization]; adopted || foreign.Labels["team"] != "someone-else" {
		t.Errorf("the foreign namespace was touched: labels %v", foreign.Labels)
	}
	// Deleting the clashing Organization leaves the foreign namespace alone.
	if err := adminClient.Delete(testCtx, org); err != nil {
		t.Fatal(err)
	}
	eventually(t, "organization gone", func() error {
		if err := adminClient.Get(testCtx, client.ObjectKeyFromObject(org), org); !apierrors.IsNotFound(err) {
			return fmt.Errorf("still there (err %w)", err)
		}
		return nil
	})
	if err := adminClient.Get(testCtx, client.ObjectKeyFromObject(foreign), foreign); err != nil || !foreign.DeletionTimestamp.IsZero() {
		t.Errorf("the foreign namespace must survive: err %v, deletionTimestamp %v", err, foreign.DeletionTimestamp)
	}
}

// auditedErr is nil once the audit trail holds a record of the operator taking
// action on the named object of an organization.
func auditedErr(action, org, name string) error {
	f, err := os.Open(auditFile)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		var r audit.Record
		if json.Unmarshal(s.Bytes(), &r) == nil && r.Action == action && r.Organization == org && r.Resource.Name == name && r.Actor.Operator {
			return nil
		}
	}
	return fmt.Errorf("no %s record for %s of organization %s in the audit trail", action, name, org)
}

func TestOrganizationActionsAreAudited(t *testing.T) {
	org := createOrganization(t, uniqueName("audited"))
	createMembership(t, org.Status.Namespace, org.Name+"-owner@example.com", accessv1alpha1.RoleOwner)
	eventually(t, "audit records", func() error {
		for _, want := range [][2]string{
			{audit.ActionNamespaceCreated, org.Status.Namespace},
			{audit.ActionMasterKeyIssued, "master"},
			{audit.ActionRoleBindingApplied, "tenantward:organization:owner"},
		} {
			if err := auditedErr(want[0], org.Name, want[1]); err != nil {
				return err
			}
		}
		return nil
	})
}
