package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/apikey"
	"github.com/tenantward/tenantward/internal/apikey/lifecycle"
	"github.com/tenantward/tenantward/internal/audit"
)

// Delivery Secrets.
const (
	// APIKeySecretType is the type of the Secrets that deliver API keys.
	APIKeySecretType corev1.SecretType = "tenantward.io/api-key"
	// APIKeySecretKey is the data key holding the plaintext.
	APIKeySecretKey = "key"
)

// Ready reasons of an APIKey besides the lifecycle ones.
const (
	reasonNotInTenantNamespace = accessv1alpha1.ReasonNotInTenantNamespace
	reasonSecretConflict       = accessv1alpha1.ReasonSecretConflict
	// conflictRecheck is how often a Secret name clash is looked at again: the
	// clashing Secret is not ours, so its deletion sends us no event.
	conflictRecheck = time.Minute
)

var apiKeyGVK = accessv1alpha1.GroupVersion.WithKind("APIKey")

// +kubebuilder:rbac:groups=access.tenantward.io,resources=apikeys,verbs=list;watch
// +kubebuilder:rbac:groups=access.tenantward.io,resources=apikeys/status,verbs=patch
// The delivery Secret's owner reference blocks the APIKey's deletion until the
// Secret is gone, which needs update on the APIKey's finalizers (where the
// OwnerReferencesPermissionEnforcement admission plugin runs).
// +kubebuilder:rbac:groups=access.tenantward.io,resources=apikeys/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// apiKeyReconciler issues, rotates and expires API keys. The plaintext goes
// only to the delivery Secret; status holds the SHA-256 hash.
type apiKeyReconciler struct {
	client.Client
	// apiReader reads Secrets the cache does not hold (not ours, or newer than
	// the cache), so that a clash or a lagging cache is never taken for a lost key.
	apiReader client.Reader
	events    events.EventRecorder
	audit     audit.Recorder
	owners    *owners
}

func setupAPIKey(mgr ctrl.Manager, d Deps) error {
	r := &apiKeyReconciler{
		Client:    mgr.GetClient(),
		apiReader: mgr.GetAPIReader(),
		events:    mgr.GetEventRecorder("tenantward"),
		audit:     d.Audit,
		owners:    &owners{Client: mgr.GetClient(), live: mgr.GetAPIReader()},
	}
	if err := indexOwners(mgr); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("apikey").
		For(&accessv1alpha1.APIKey{}, builder.WithPredicates(predicate.Funcs{DeleteFunc: r.revoked})).
		Owns(&corev1.Secret{}).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.keysInNamespace), builder.WithPredicates(predicate.LabelChangedPredicate{})).
		Watches(&accessv1alpha1.Membership{}, handler.EnqueueRequestsFromMapFunc(r.owners.keysOf), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&accessv1alpha1.Workspace{}, handler.EnqueueRequestsFromMapFunc(r.keysOfWorkspace), keyPolicyChanged).
		Watches(&accessv1alpha1.Organization{}, handler.EnqueueRequestsFromMapFunc(r.keysOfOrganization), keyPolicyChanged).
		Complete(r)
}

// Reconcile places the key (org or workspace namespace), reads its delivery
// Secret, lets the lifecycle decide, then writes status once and, when a new
// key is issued, the Secret. Status goes first, with an optimistic lock
// (patchStatusLocked, status.go): a reconcile working from a stale cache fails
// there instead of issuing twice.
func (r *apiKeyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	key := &accessv1alpha1.APIKey{}
	if err := r.Get(ctx, req.NamespacedName, key); err != nil || !key.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	ownerLeft, err := r.owners.check(ctx, key)
	if err != nil {
		return ctrl.Result{}, err
	}
	before := key.DeepCopy()
	secret, ok, err := r.place(ctx, key)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !ok {
		key.Status.ObservedGeneration = key.Generation
		var result ctrl.Result
		if secret == secretConflict {
			result.RequeueAfter = conflictRecheck
		}
		return result, patchStatusLocked(ctx, r.Client, before, key, &before.Status, &key.Status)
	}
	return r.issue(ctx, before, key, secret, ownerLeft)
}

// place sets the key's organization, workspace, type and Secret name from
// its namespace and reads its delivery Secret. It reports false, with the
// Ready condition saying why, when no key can be issued: the namespace is not
// a tenant one, or the Secret name is taken by a Secret that is not the key's.
func (r *apiKeyReconciler) place(ctx context.Context, key *accessv1alpha1.APIKey) (lifecycle.SecretState, bool, error) {
	org, ws, err := namespaceTenancy(ctx, r.Client, key.Namespace)
	if err != nil {
		return 0, false, err
	}
	if org == "" {
		key.Status.Phase = accessv1alpha1.KeyPhasePending
		setReady(&key.Status.Conditions, key.Generation, metav1.ConditionFalse, reasonNotInTenantNamespace,
			fmt.Sprintf("namespace %s carries no %s label: an APIKey belongs in an org namespace (admin key) or a workspace namespace (workspace key)", key.Namespace, accessv1alpha1.LabelOrganization))
		return 0, false, nil
	}
	if err := r.recordOrganization(ctx, key, org); err != nil {
		return 0, false, err
	}
	if err := r.effectivePolicy(ctx, key, org, ws); err != nil {
		return 0, false, err
	}
	key.Status.Organization, key.Status.Workspace, key.Status.Type = org, ws, keyType(ws)
	key.Status.SecretName = secretNameOf(key)

	secret, err := r.secretState(ctx, key)
	if err != nil || secret != secretConflict {
		return secret, err == nil, err
	}
	msg := fmt.Sprintf("Secret %s exists and is not this APIKey's delivery Secret; the operator does not take it over: delete or rename it, or set spec.secretName", key.Status.SecretName)
	if setReady(&key.Status.Conditions, key.Generation, metav1.ConditionFalse, reasonSecretConflict, msg) {
		announce(ctx, r.events, key, nil, corev1.EventTypeWarning, reasonSecretConflict, "Issue", msg)
	}
	return secret, false, nil
}

// issue lets the lifecycle decide from the key and its Secret's state, writes
// status and, when a new key is issued, delivers it to the Secret.
func (r *apiKeyReconciler) issue(ctx context.Context, before, key *accessv1alpha1.APIKey, secret lifecycle.SecretState, ownerLeft string) (ctrl.Result, error) {
	in := lifecycle.Input{
		Now: time.Now(), Generation: key.Generation, Spec: key.Spec,
		RotateRequest: key.Annotations[accessv1alpha1.AnnotationRotate],
		Status:        key.Status, Secret: secret, OwnerLeft: ownerLeft,
	}
	d := lifecycle.Decide(in)
	var plaintext string
	if d.Issue != lifecycle.NoIssue {
		var err error
		if plaintext, err = apikey.Generate(kindOf(key.Status.Type)); err != nil {
			return ctrl.Result{}, err
		}
	}
	key.Status = d.Status(in, apikey.Sum(plaintext).String(), apikey.DisplayPrefix(plaintext))
	if err := patchStatusLocked(ctx, r.Client, before, key, &before.Status, &key.Status); err != nil {
		return ctrl.Result{}, err
	}
	if d.Issue != lifecycle.NoIssue {
		if err := r.applySecret(ctx, key, plaintext); err != nil {
			return ctrl.Result{}, fmt.Errorf("delivering the key of APIKey %s/%s to Secret %s: %w", key.Namespace, key.Name, key.Status.SecretName, err)
		}
	}
	r.report(ctx, before, key, d)
	return ctrl.Result{RequeueAfter: lifecycle.Next(in, &key.Status)}, nil
}

// recordOrganization ties the key to the UID of its Organization, once: a
// key keeps the UID it was issued under, so that an Organization created
// later under the same name (after the first was removed) does not revive it;
// the verifier refuses a key whose recorded UID is not the live one. Nothing
// is recorded while no Organization of that name exists.
func (r *apiKeyReconciler) recordOrganization(ctx context.Context, key *accessv1alpha1.APIKey, org string) error {
	if key.Status.OrganizationUID != "" && key.Status.Organization == org {
		return nil
	}
	o := &accessv1alpha1.Organization{}
	if err := r.Get(ctx, client.ObjectKey{Name: org}, o); client.IgnoreNotFound(err) != nil {
		return err
	}
	key.Status.OrganizationUID = string(o.UID) // empty when not found
	return nil
}

// secretConflict extends lifecycle.SecretState: a Secret of that name exists
// and belongs to someone else.
const secretConflict = lifecycle.SecretOther + 1

// secretState reads the delivery Secret and says what it holds, comparing
// hashes in constant time. A miss or a mismatch in the cache is confirmed
// with the API server before it counts.
func (r *apiKeyReconciler) secretState(ctx context.Context, key *accessv1alpha1.APIKey) (lifecycle.SecretState, error) {
	name := client.ObjectKey{Namespace: key.Namespace, Name: key.Status.SecretName}
	s := &corev1.Secret{}
	err := r.Get(ctx, name, s)
	if apierrors.IsNotFound(err) || (err == nil && !apikey.Matches(string(s.Data[APIKeySecretKey]), key.Status.Hash)) {
		err = r.apiReader.Get(ctx, name, s)
	}
	switch {
	case apierrors.IsNotFound(err):
		return lifecycle.SecretMissing, nil
	case err != nil:
		return 0, err
	case !metav1.IsControlledBy(s, key):
		return secretConflict, nil
	}
	plain := string(s.Data[APIKeySecretKey])
	switch {
	case key.Status.Hash != "" && apikey.Matches(plain, key.Status.Hash):
		return lifecycle.SecretCurrent, nil
	case key.Status.PreviousHash != "" && apikey.Matches(plain, key.Status.PreviousHash):
		return lifecycle.SecretPrevious, nil
	default:
		return lifecycle.SecretOther, nil
	}
}

// applySecret writes the delivery Secret with server-side apply: the operator
// owns its type, its data and its own labels; labels and annotations others
// set stay.
func (r *apiKeyReconciler) applySecret(ctx context.Context, key *accessv1alpha1.APIKey, plaintext string) error {
	labels := map[string]string{
		accessv1alpha1.LabelAPIKey:       key.Name,
		accessv1alpha1.LabelOrganization: key.Status.Organization,
		accessv1alpha1.LabelManagedBy:    accessv1alpha1.ManagedByValue,
	}
	if key.Status.Workspace != "" {
		labels[accessv1alpha1.LabelWorkspace] = key.Status.Workspace
	}
	s := corev1ac.Secret(key.Status.SecretName, key.Namespace).
		WithType(APIKeySecretType).
		WithLabels(labels).
		WithOwnerReferences(metav1ac.OwnerReference().
			WithAPIVersion(apiKeyGVK.GroupVersion().String()).WithKind(apiKeyGVK.Kind).
			WithName(key.Name).WithUID(key.UID).
			WithController(true).WithBlockOwnerDeletion(true)).
		WithData(map[string][]byte{APIKeySecretKey: []byte(plaintext)})
	return r.Apply(ctx, s, client.FieldOwner(accessv1alpha1.FieldManager), client.ForceOwnership)
}

// report emits the events and audit records of what this reconcile did.
func (r *apiKeyReconciler) report(ctx context.Context, before, key *accessv1alpha1.APIKey, d lifecycle.Decision) {
	emit := func(action, eventType, verb, msg string) {
		rec := audit.OperatorAction(action, apiKeyGVK, key, msg)
		rec.Organization, rec.Workspace = key.Status.Organization, key.Status.Workspace
		r.audit.Record(ctx, rec)
		announce(ctx, r.events, key, nil, eventType, audit.EventReason(action), verb, msg)
	}
	display, secret := key.Status.DisplayPrefix, key.Status.SecretName
	switch d.Issue {
	case lifecycle.Initial:
		emit(audit.ActionKeyIssued, corev1.EventTypeNormal, "Issue", fmt.Sprintf("issued %s key %s into Secret %s", key.Status.Type, display, secret))
	case lifecycle.RotationRequested, lifecycle.RotationPeriod:
		why := "on request (annotation " + accessv1alpha1.AnnotationRotate + ")"
		if d.Issue == lifecycle.RotationPeriod {
			why = "on its rotation period"
		}
		grace := "the previous key stopped verifying at once"
		if d.Grace > 0 {
			grace = "the previous key " + before.Status.DisplayPrefix + " verifies until " + key.Status.PreviousValidUntil.UTC().Format(time.RFC3339)
		}
		emit(audit.ActionKeyRotated, corev1.EventTypeNormal, "Rotate", fmt.Sprintf("rotated %s: new key %s in Secret %s; %s", why, display, secret, grace))
	case lifecycle.SecretLost:
		emit(audit.ActionKeyRotated, corev1.EventTypeWarning, "Rotate", fmt.Sprintf("delivery Secret %s was deleted or changed, so key %s can no longer be delivered: issued a new key %s and revoked the old one at once (no grace)", secret, before.Status.DisplayPrefix, display))
	case lifecycle.DeliveryRetry:
		emit(audit.ActionKeyRotated, corev1.EventTypeNormal, "Rotate", fmt.Sprintf("the last new key never reached Secret %s: issued %s in its place; the previous key keeps its grace period", secret, display))
	}
	if before.Status.Phase == key.Status.Phase || before.Status.Phase == "" || before.Status.Phase == accessv1alpha1.KeyPhasePending {
		return
	}
	switch key.Status.Phase {
	case accessv1alpha1.KeyPhaseDisabled:
		if c := meta.FindStatusCondition(key.Status.Conditions, accessv1alpha1.ConditionReady); c != nil && c.Reason == accessv1alpha1.ReasonOwnerLeft {
			emit(audit.ActionKeyDisabled, corev1.EventTypeWarning, "Disable", fmt.Sprintf("personal key %s disabled: %s", display, c.Message))
			break
		}
		emit(audit.ActionKeyDisabled, corev1.EventTypeNormal, "Disable", fmt.Sprintf("key %s disabled: it stops verifying", display))
	case accessv1alpha1.KeyPhaseExpired:
		emit(audit.ActionKeyExpired, corev1.EventTypeNormal, "Expire", fmt.Sprintf("key %s expired at %s", display, key.Spec.ExpiresAt.UTC().Format(time.RFC3339)))
	case accessv1alpha1.KeyPhaseActive:
		emit(audit.ActionKeyEnabled, corev1.EventTypeNormal, "Enable", fmt.Sprintf("key %s is active again", display))
	}
}

// revoked records the deletion of an APIKey: its hash leaves the verifier's
// index with the object, and its Secret goes with it (owner reference). There
// is nothing to reconcile.
func (r *apiKeyReconciler) revoked(e event.DeleteEvent) bool {
	if key, ok := e.Object.(*accessv1alpha1.APIKey); ok && key.Status.Hash != "" {
		rec := audit.OperatorAction(audit.ActionKeyRevoked, apiKeyGVK, key, fmt.Sprintf("APIKey deleted: key %s no longer verifies and Secret %s is garbage-collected", key.Status.DisplayPrefix, key.Status.SecretName))
		rec.Organization, rec.Workspace = key.Status.Organization, key.Status.Workspace
		r.audit.Record(context.Background(), rec)
	}
	return false
}

// keysInNamespace maps a namespace whose labels changed to its APIKeys, so
// that a key waiting for its namespace's tenancy labels is placed.
func (r *apiKeyReconciler) keysInNamespace(ctx context.Context, ns client.Object) []reconcile.Request {
	return r.keysIn(ctx, nil, ns.GetName())
}

func secretNameOf(key *accessv1alpha1.APIKey) string {
	if key.Spec.SecretName != "" {
		return key.Spec.SecretName
	}
	return key.Name + "-apikey"
}

func keyType(workspace string) accessv1alpha1.KeyType {
	if workspace == "" {
		return accessv1alpha1.KeyTypeAdmin
	}
	return accessv1alpha1.KeyTypeWorkspace
}

func kindOf(t accessv1alpha1.KeyType) apikey.Kind {
	if t == accessv1alpha1.KeyTypeAdmin {
		return apikey.KindAdmin
	}
	return apikey.KindWorkspace
}
