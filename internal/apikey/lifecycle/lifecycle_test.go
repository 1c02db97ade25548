package lifecycle

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func at(t time.Time) *metav1.Time { m := metav1.NewTime(t); return &m }

// issuedAt is the status of a key issued at t with hash "h1".
func issuedAt(t time.Time) accessv1alpha1.APIKeyStatus {
	return accessv1alpha1.APIKeyStatus{Hash: "h1", DisplayPrefix: "tww_abcd…", IssuedAt: at(t)}
}

func TestDecide(t *testing.T) {
	period := &accessv1alpha1.Rotation{Period: &metav1.Duration{Duration: 720 * time.Hour}, GracePeriod: &metav1.Duration{Duration: time.Hour}}
	cases := []struct {
		name  string
		in    Input
		issue Reason
		grace time.Duration
	}{
		{"new key", Input{Now: t0}, Initial, 0},
		{"issued, secret holds it", Input{Now: t0, Status: issuedAt(t0), Secret: SecretCurrent}, NoIssue, 0},
		{"secret deleted", Input{Now: t0, Status: issuedAt(t0), Secret: SecretMissing}, SecretLost, 0},
		{"secret edited", Input{Now: t0, Status: issuedAt(t0), Secret: SecretOther}, SecretLost, 0},
		{"delivery failed", Input{Now: t0, Status: issuedAt(t0), Secret: SecretPrevious}, DeliveryRetry, 0},
		{"rotate annotation", Input{Now: t0, Status: issuedAt(t0), Secret: SecretCurrent, RotateRequest: "1"}, RotationRequested, DefaultGracePeriod},
		{"rotate annotation already seen", Input{Now: t0, Status: func() accessv1alpha1.APIKeyStatus {
			s := issuedAt(t0)
			s.ObservedRotateRequest = "1"
			return s
		}(), Secret: SecretCurrent, RotateRequest: "1"}, NoIssue, 0},
		{"period not due", Input{Now: t0.Add(719 * time.Hour), Spec: accessv1alpha1.APIKeySpec{Rotation: period}, Status: issuedAt(t0), Secret: SecretCurrent}, NoIssue, 0},
		{"period due", Input{Now: t0.Add(720 * time.Hour), Spec: accessv1alpha1.APIKeySpec{Rotation: period}, Status: issuedAt(t0), Secret: SecretCurrent}, RotationPeriod, time.Hour},
		{"expired keys do not rotate", Input{Now: t0.Add(720 * time.Hour), Spec: accessv1alpha1.APIKeySpec{Rotation: period, ExpiresAt: at(t0)}, Status: issuedAt(t0), Secret: SecretCurrent}, NoIssue, 0},
	}
	for _, c := range cases {
		d := Decide(c.in)
		if d.Issue != c.issue || d.Grace != c.grace {
			t.Errorf("%s: %+v, want %s grace %s", c.name, d, c.issue, c.grace)
		}
	}
}

func TestStatusAfterRotation(t *testing.T) {
	in := Input{Now: t0, Generation: 3, Status: issuedAt(t0.Add(-time.Hour)), Secret: SecretCurrent, RotateRequest: "r1"}
	d := Decide(in)
	st := d.Status(in, "h2", "tww_wxyz…")
	if st.Hash != "h2" || st.PreviousHash != "h1" || !st.PreviousValidUntil.Time.Equal(t0.Add(DefaultGracePeriod)) ||
		st.ObservedRotateRequest != "r1" || !st.LastRotatedAt.Time.Equal(t0) || st.ObservedGeneration != 3 || st.Phase != accessv1alpha1.KeyPhaseActive {
		t.Fatalf("status after rotation: %+v", st)
	}
	if got := Next(in, &st); got != DefaultGracePeriod+time.Second {
		t.Fatalf("Next = %s, want the end of the grace period", got)
	}
	// After the grace period the previous hash is dropped.
	later := Input{Now: t0.Add(DefaultGracePeriod), Status: st, Secret: SecretCurrent, RotateRequest: "r1"}
	st2 := Decide(later).Status(later, "", "")
	if st2.PreviousHash != "" || st2.PreviousValidUntil != nil || st2.Hash != "h2" {
		t.Fatalf("after grace: %+v", st2)
	}
	// A lost Secret re-issues with no grace: the old key stops at once.
	lost := Input{Now: t0.Add(time.Minute), Status: st, Secret: SecretMissing, RotateRequest: "r1"}
	st3 := Decide(lost).Status(lost, "h3", "tww_new…")
	if st3.Hash != "h3" || st3.PreviousHash != "" {
		t.Fatalf("after a lost secret: %+v", st3)
	}
	// A failed delivery keeps the previous key's grace.
	retry := Input{Now: t0.Add(time.Minute), Status: st, Secret: SecretPrevious, RotateRequest: "r1"}
	st4 := Decide(retry).Status(retry, "h4", "tww_new…")
	if st4.Hash != "h4" || st4.PreviousHash != "h1" {
		t.Fatalf("after a delivery retry: %+v", st4)
	}
}

func condition(st accessv1alpha1.APIKeyStatus, typ string) metav1.Condition {
	for _, c := range st.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{}
}

func TestPhasesAndConditions(t *testing.T) {
	expires := at(t0.Add(48 * time.Hour))
	cases := []struct {
		name  string
		spec  accessv1alpha1.APIKeySpec
		left  string
		now   time.Time
		phase accessv1alpha1.KeyPhase
		ready metav1.ConditionStatus
		soon  metav1.ConditionStatus
		next  time.Duration
	}{
		{"active", accessv1alpha1.APIKeySpec{}, "", t0, accessv1alpha1.KeyPhaseActive, metav1.ConditionTrue, metav1.ConditionFalse, 0},
		{"expiring soon", accessv1alpha1.APIKeySpec{ExpiresAt: expires}, "", t0, accessv1alpha1.KeyPhaseActive, metav1.ConditionTrue, metav1.ConditionTrue, 48*time.Hour + time.Second},
		{"not yet expiring soon", accessv1alpha1.APIKeySpec{ExpiresAt: expires}, "", t0.Add(-7 * 24 * time.Hour), accessv1alpha1.KeyPhaseActive, metav1.ConditionTrue, metav1.ConditionFalse, 48*time.Hour + time.Second},
		{"expired", accessv1alpha1.APIKeySpec{ExpiresAt: expires}, "", t0.Add(48 * time.Hour), accessv1alpha1.KeyPhaseExpired, metav1.ConditionFalse, metav1.ConditionFalse, 0},
		// Disabled as asked: reconciled (Ready), though it does not verify.
		{"disabled", accessv1alpha1.APIKeySpec{State: accessv1alpha1.KeyDisabled}, "", t0, accessv1alpha1.KeyPhaseDisabled, metav1.ConditionTrue, metav1.ConditionFalse, 0},
		// A personal key whose owner left: disabled, and Stalled until someone entitled re-enables it.
		{"owner left", accessv1alpha1.APIKeySpec{State: accessv1alpha1.KeyDisabled}, "its owner left", t0, accessv1alpha1.KeyPhaseDisabled, metav1.ConditionFalse, metav1.ConditionFalse, 0},
	}
	for _, c := range cases {
		in := Input{Now: c.now, Spec: c.spec, OwnerLeft: c.left, Status: issuedAt(t0.Add(-30 * 24 * time.Hour)), Secret: SecretCurrent}
		st := Decide(in).Status(in, "", "")
		if st.Phase != c.phase || condition(st, accessv1alpha1.ConditionReady).Status != c.ready || condition(st, accessv1alpha1.ConditionExpiringSoon).Status != c.soon {
			t.Errorf("%s: phase %s, conditions %+v", c.name, st.Phase, st.Conditions)
		}
		if stalled := condition(st, accessv1alpha1.ConditionStalled).Status == metav1.ConditionTrue; stalled != (c.phase == accessv1alpha1.KeyPhaseExpired || c.left != "") {
			t.Errorf("%s: Stalled=%v, want it exactly for an expired key and one whose owner left: %+v", c.name, stalled, st.Conditions)
		}
		if got := Next(in, &st); got != c.next {
			t.Errorf("%s: Next = %s, want %s", c.name, got, c.next)
		}
	}
}

func TestUnchangedStatusIsStable(t *testing.T) {
	in := Input{Now: t0, Status: issuedAt(t0), Secret: SecretCurrent}
	st := Decide(in).Status(in, "", "")
	again := Input{Now: t0.Add(time.Minute), Status: st, Secret: SecretCurrent}
	st2 := Decide(again).Status(again, "", "")
	if !st2.Conditions[0].LastTransitionTime.Equal(&st.Conditions[0].LastTransitionTime) || len(st2.Conditions) != 2 {
		t.Fatalf("a second pass changed the conditions: %+v -> %+v", st.Conditions, st2.Conditions)
	}
}
