package controllers_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/audit"
)

// ownerLeftWithin is the bound: a personal key stops verifying within
// a second of its owner's last Membership going.
const ownerLeftWithin = time.Second

// refusedWithin asks the verifier, as a gateway would, until it answers want
// for key, and fails the test when that takes longer than within from start.
// It returns how long it took.
func refusedWithin(t *testing.T, key, want string, start time.Time, within time.Duration) time.Duration {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		got := verify(t, key, "", "").Result
		elapsed := time.Since(start)
		if got == want {
			return elapsed
		}
		if elapsed > within {
			t.Log(operator.Log())
			t.Fatalf("the verifier still answers %s %v after the owner left; want %s within %v", got, elapsed, want, within)
		}
		<-tick.C
	}
}

// personalKeyOf creates, as the platform, a key of ns owned by user and
// returns it issued with its plaintext, verifying.
func personalKeyOf(t *testing.T, ns, user string) (*accessv1alpha1.APIKey, string) {
	t.Helper()
	key := createKey(t, adminClient, ns, func(k *accessv1alpha1.APIKey) {
		k.Spec.Owner = &accessv1alpha1.Subject{Kind: accessv1alpha1.SubjectUser, Name: user}
	})
	plain, _ := deliveredKey(t, key)
	canary(t, plain)
	eventuallyVerifies(t, plain, "VALID")
	return key, plain
}

// ownerLeft waits until the key says its owner left: Ready False, OwnerLeft,
// Stalled, phase Disabled, with spec.state Disabled.
func ownerLeft(t *testing.T, key *accessv1alpha1.APIKey) *accessv1alpha1.APIKey {
	t.Helper()
	return waitKey(t, key, func(k *accessv1alpha1.APIKey) error {
		ready := findCondition(k.Status.Conditions, accessv1alpha1.ConditionReady)
		stalled := findCondition(k.Status.Conditions, accessv1alpha1.ConditionStalled)
		switch {
		case k.Spec.State != accessv1alpha1.KeyDisabled:
			return fmt.Errorf("spec.state %s", k.Spec.State)
		case ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != accessv1alpha1.ReasonOwnerLeft:
			return fmt.Errorf("Ready %+v", ready)
		case stalled == nil || stalled.Status != metav1.ConditionTrue:
			return fmt.Errorf("Stalled %+v", stalled)
		case k.Status.Phase != accessv1alpha1.KeyPhaseDisabled:
			return fmt.Errorf("phase %s", k.Status.Phase)
		}
		return nil
	})
}

// TestPersonalKeyStopsWhenOwnerLeaves removes the owner's last Membership in
// the organization and measures, from the deletion, how long the verifier
// goes on accepting the owner's personal key: at most a second (the issue's
// bound). The key is disabled for good (spec.state), says why, is evented and
// audited; another member's key is untouched; the owner's return alone does
// not revive it, re-enabling does.
func TestPersonalKeyStopsWhenOwnerLeaves(t *testing.T) {
	org := createOrganization(t, uniqueName("personal"))
	ws := createWorkspace(t, org, "apps", func(w *accessv1alpha1.Workspace) {
		w.Spec.APIKeys = &accessv1alpha1.WorkspaceKeyPolicy{PersonalKeys: accessv1alpha1.ToggleEnabled}
	})
	alice, bob := uniqueName("alice")+"@example.com", uniqueName("bob")+"@example.com"
	aliceOrg := createMembership(t, org.Status.Namespace, alice, accessv1alpha1.RoleMember)
	createMembership(t, ws.Status.Namespace, bob, accessv1alpha1.RoleMember)
	key, plain := personalKeyOf(t, ws.Status.Namespace, alice)
	_, bobs := personalKeyOf(t, ws.Status.Namespace, bob)

	start := time.Now()
	if err := adminClient.Delete(testCtx, aliceOrg); err != nil {
		t.Fatal(err)
	}
	elapsed := refusedWithin(t, plain, "DISABLED", start, ownerLeftWithin)
	t.Logf("the verifier refused the personal key %v after its owner's last Membership was deleted", elapsed)

	left := ownerLeft(t, key)
	if msg := findCondition(left.Status.Conditions, accessv1alpha1.ConditionReady).Message; !strings.Contains(msg, "its owner User:"+alice+" holds no role in "+org.Name+"/apps any more") {
		t.Errorf("Ready message %q does not say who left where", msg)
	}
	expectEvent(t, key, "KeyDisabled")
	expectAudit(t, audit.ActionKeyDisabled, key)
	if got := verify(t, bobs, "", "").Result; got != "VALID" {
		t.Errorf("bob's personal key answers %s after alice left", got)
	}

	// Alice comes back: the key stays disabled (Ready, as spec.state asks)
	// until someone enables it again.
	createMembership(t, ws.Status.Namespace, alice, accessv1alpha1.RoleMember)
	waitKey(t, key, func(k *accessv1alpha1.APIKey) error {
		if c := findCondition(k.Status.Conditions, accessv1alpha1.ConditionReady); c == nil || c.Reason != accessv1alpha1.ReasonDisabled {
			return fmt.Errorf("Ready %+v", c)
		}
		return nil
	})
	if got := verify(t, plain, "", "").Result; got != "DISABLED" {
		t.Fatalf("the key answers %s once its owner is back, before anyone re-enabled it", got)
	}
	setKeyState(t, key, accessv1alpha1.KeyEnabled)
	eventuallyVerifies(t, plain, "VALID")
}

// TestPersonalKeyStopsWhenSubjectChanges: the owner's Membership is edited
// to name someone else, so it no longer matches the owner: the same as
// leaving.
func TestPersonalKeyStopsWhenSubjectChanges(t *testing.T) {
	org := createOrganization(t, uniqueName("personal"))
	ws := createWorkspace(t, org, "apps", func(w *accessv1alpha1.Workspace) {
		w.Spec.APIKeys = &accessv1alpha1.WorkspaceKeyPolicy{PersonalKeys: accessv1alpha1.ToggleEnabled}
	})
	carol := uniqueName("carol") + "@example.com"
	m := createMembership(t, ws.Status.Namespace, carol, accessv1alpha1.RoleManager)
	key, plain := personalKeyOf(t, ws.Status.Namespace, carol)

	m.Spec.Subject.Name = uniqueName("dave") + "@example.com"
	start := time.Now()
	if err := adminClient.Update(testCtx, m); err != nil {
		t.Fatal(err)
	}
	elapsed := refusedWithin(t, plain, "DISABLED", start, ownerLeftWithin)
	t.Logf("the verifier refused the personal key %v after its owner's Membership was given to someone else", elapsed)
	ownerLeft(t, key)
}

func setKeyState(t *testing.T, key *accessv1alpha1.APIKey, s accessv1alpha1.KeyState) {
	t.Helper()
	k := &accessv1alpha1.APIKey{}
	if err := adminClient.Get(testCtx, client.ObjectKeyFromObject(key), k); err != nil {
		t.Fatal(err)
	}
	k.Spec.State = s
	if err := adminClient.Update(testCtx, k); err != nil {
		t.Fatal(err)
	}
}
