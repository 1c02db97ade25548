package audit

import (
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
)

// serviceAccountPrefix starts the user name of every service account.
const serviceAccountPrefix = "system:serviceaccount:"

// orgNamespacePrefix is the default org namespace prefix (org-<organization>).
const orgNamespacePrefix = "org-"

// organizationKind is the cluster-scoped kind whose name is its organization.
const organizationKind = "Organization"

// FromAdmission builds the record of one admission decision. The audit ID is the
// request UID, the action the operation in lower case, the resource the request's
// group, version, kind, resource, subresource, namespace and name.
//
// Organization and workspace are filled from what the request itself says: an
// Organization's own name, or the org-<name> convention of its namespace. A caller
// that knows the namespace's tenancy labels (the webhooks resolve them anyway)
// calls r.SetTenancy(namespace.Labels) afterwards.
//
// FromAdmission never reads the request's objects: nothing secret can reach the
// record through it. changes is the summary from ChangesFromAdmission, or nil.
func FromAdmission(req admission.Request, decision, reason string, changes *Changes) Record {
	r := Record{
		SchemaVersion: SchemaVersion,
		Time:          time.Now().UTC(),
		AuditID:       string(req.UID),
		Actor:         actorOf(req.UserInfo),
		Action:        strings.ToLower(string(req.Operation)),
		Resource: Resource{
			Group:       req.Kind.Group,
			Version:     req.Kind.Version,
			Kind:        req.Kind.Kind,
			Resource:    req.Resource.Resource,
			Subresource: req.SubResource,
			Namespace:   req.Namespace,
			Name:        req.Name,
		},
		Decision: decision,
		Reason:   reason,
		DryRun:   req.DryRun != nil && *req.DryRun,
		Changes:  changes,
	}
	switch {
	case req.Kind.Kind == organizationKind && req.Namespace == "":
		r.Organization = req.Name
	case strings.HasPrefix(req.Namespace, orgNamespacePrefix):
		r.Organization = strings.TrimPrefix(req.Namespace, orgNamespacePrefix)
	}
	return r
}

// actorOf turns the authenticated user of a request into an Actor.
func actorOf(u authenticationv1.UserInfo) Actor {
	a := Actor{Username: u.Username, UID: u.UID, Groups: u.Groups}
	a.ServiceAccount = ServiceAccountOf(u.Username)
	return a
}

// ServiceAccountOf returns <namespace>/<name> when username is a service
// account's (system:serviceaccount:<namespace>:<name>), otherwise "".
func ServiceAccountOf(username string) string {
	rest, ok := strings.CutPrefix(username, serviceAccountPrefix)
	if !ok {
		return ""
	}
	ns, name, ok := strings.Cut(rest, ":")
	if !ok || ns == "" || name == "" || strings.Contains(name, ":") {
		return ""
	}
	return ns + "/" + name
}

// SetTenancy sets the record's organization and workspace from the
// tenantward.io/organization and tenantward.io/workspace labels of the namespace
// acted in (or of the object), leaving what the labels do not say unchanged.
func (r *Record) SetTenancy(labels map[string]string) {
	if org := labels[accessv1alpha1.LabelOrganization]; org != "" {
		r.Organization = org
	}
	if ws := labels[accessv1alpha1.LabelWorkspace]; ws != "" {
		r.Workspace = ws
	}
}
