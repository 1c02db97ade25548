package audit

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/uuid"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
)

// OperatorActor is the actor of the operator's own actions.
var OperatorActor = Actor{Username: accessv1alpha1.FieldManager, Operator: true}

// OperatorAction builds the record of an action the operator itself took on obj
// (one of the Action* constants): a fresh UUID audit ID, the operator as actor,
// decision allowed. Organization and workspace come from the object's
// tenantward.io/organization and tenantward.io/workspace labels; a controller
// that knows them otherwise sets them on the result. reason says why, in words a
// user reads in `kubectl describe` too: it must never contain key material.
func OperatorAction(action string, gvk schema.GroupVersionKind, obj metav1.Object, reason string) Record {
	labels := obj.GetLabels()
	return Record{
		SchemaVersion: SchemaVersion,
		Time:          time.Now().UTC(),
		AuditID:       string(uuid.NewUUID()),
		Actor:         OperatorActor,
		Action:        action,
		Resource: Resource{
			Group:     gvk.Group,
			Version:   gvk.Version,
			Kind:      gvk.Kind,
			Namespace: obj.GetNamespace(),
			Name:      obj.GetName(),
		},
		Organization: labels[accessv1alpha1.LabelOrganization],
		Workspace:    labels[accessv1alpha1.LabelWorkspace],
		Decision:     DecisionAllowed,
		Reason:       reason,
	}
}

// eventReasons are the Kubernetes Event reasons of the controller actions, so
// that the event on an object and its audit record tell the same story.
var eventReasons = map[string]string{
	ActionKeyIssued:          "KeyIssued",
	ActionKeyRotated:         "KeyRotated",
	ActionKeyExpired:         "KeyExpired",
	ActionKeyDisabled:        "KeyDisabled",
	ActionKeyEnabled:         "KeyEnabled",
	ActionKeyRevoked:         "KeyRevoked",
	ActionMasterKeyIssued:    "MasterKeyIssued",
	ActionNamespaceCreated:   "NamespaceCreated",
	ActionNamespaceDeleted:   "NamespaceDeleted",
	ActionRoleBindingApplied: "RoleBindingApplied",
	ActionRoleBindingDeleted: "RoleBindingDeleted",
}

// EventReason returns the Event reason (CamelCase) for a controller action.
func EventReason(action string) string {
	if r, ok := eventReasons[action]; ok {
		return r
	}
	return "Audited"
}
