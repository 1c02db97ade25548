package audit

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
)

// MaxChangedFields bounds Changes.Fields; the rest are counted in FieldsOmitted.
const MaxChangedFields = 64

// maxValueLength bounds the role and permission values copied into a summary.
// They are enums; anything longer is not one and is not copied.
const maxValueLength = 32

// ChangesFromAdmission summarises what an admission request changes: the paths of
// the spec fields, labels and annotations that differ between the old and new
// object (status fields for a status write), a Membership's role before and after
// and an APIKey's permission levels before and after.
//
// Only paths and those enum values are copied, never a value of any other field,
// so nothing secret can reach the summary. Secrets get no summary at all. It
// returns nil when nothing is worth summarising, and an error when an object in
// the request is not a JSON object.
func ChangesFromAdmission(req admission.Request) (*Changes, error) {
	if req.Kind.Group == "" && req.Kind.Kind == "Secret" {
		return nil, nil
	}
	status := req.SubResource == "status"
	oldObj, err := decodeObject(req.OldObject.Raw, status)
	if err != nil {
		return nil, fmt.Errorf("decoding the old %s: %w", req.Kind.Kind, err)
	}
	newObj, err := decodeObject(req.Object.Raw, status)
	if err != nil {
		return nil, fmt.Errorf("decoding the new %s: %w", req.Kind.Kind, err)
	}
	c := &Changes{}
	var paths []string
	if status {
		paths = diffPaths(field.NewPath("status"), oldObj.Status, newObj.Status, paths)
	} else {
		paths = diffPaths(field.NewPath("spec"), oldObj.Spec, newObj.Spec, paths)
		paths = diffKeys(field.NewPath("metadata", "labels"), oldObj.Metadata.Labels, newObj.Metadata.Labels, paths)
		paths = diffKeys(field.NewPath("metadata", "annotations"), oldObj.Metadata.Annotations, newObj.Metadata.Annotations, paths)
	}
	sort.Strings(paths)
	if len(paths) > MaxChangedFields {
		c.FieldsOmitted = len(paths) - MaxChangedFields
		paths = paths[:MaxChangedFields]
	}
	c.Fields = paths

	if req.Kind.Group == accessv1alpha1.GroupVersion.Group {
		switch req.Kind.Kind {
		case "Membership":
			c.RoleBefore = enumValue(asMap(oldObj.Spec)["role"])
			c.RoleAfter = enumValue(asMap(newObj.Spec)["role"])
		case "APIKey":
			c.PermissionsBefore = permissions(oldObj)
			c.PermissionsAfter = permissions(newObj)
		}
	}
	if reflect.ValueOf(*c).IsZero() {
		return nil, nil
	}
	return c, nil
}

// summarised are the parts of an object a summary looks at. Decoding into it
// skips the rest (managedFields above all) without allocating for it.
type summarised struct {
	Metadata struct {
		Labels      map[string]any `json:"labels"`
		Annotations map[string]any `json:"annotations"`
	} `json:"metadata"`
	Spec any `json:"spec"`
}

// withStatus also decodes status, for status writes.
type withStatus struct {
	summarised
	Status any `json:"status"`
}

// decodeObject decodes the summarised parts of a raw object; empty input (no
// old object on create, no new one on delete) is an empty object.
func decodeObject(raw []byte, status bool) (withStatus, error) {
	var obj withStatus
	if len(raw) == 0 {
		return obj, nil
	}
	var err error
	if status {
		err = json.Unmarshal(raw, &obj)
	} else {
		err = json.Unmarshal(raw, &obj.summarised)
	}
	return obj, err
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// diffPaths appends the paths under p whose values differ between a and b.
// Objects are walked; anything else (lists included) is compared as a whole.
func diffPaths(p *field.Path, a, b any, out []string) []string {
	am, aIsMap := a.(map[string]any)
	bm, bIsMap := b.(map[string]any)
	// A field that appears or disappears is walked against nothing, so that a
	// create or delete lists the paths it sets or removes.
	aIsMap = aIsMap || (a == nil && bIsMap)
	bIsMap = bIsMap || (b == nil && aIsMap)
	if !aIsMap || !bIsMap {
		if !reflect.DeepEqual(a, b) {
			out = append(out, p.String())
		}
		return out
	}
	for k, av := range am {
		out = diffPaths(p.Child(k), av, bm[k], out)
	}
	for k, bv := range bm {
		if _, ok := am[k]; !ok {
			out = diffPaths(p.Child(k), nil, bv, out)
		}
	}
	return out
}

// diffKeys appends p[key] for every key of a label or annotation map whose value
// differs between a and b; the values themselves are never copied.
func diffKeys(p *field.Path, a, b map[string]any, out []string) []string {
	for k, av := range a {
		if bv, ok := b[k]; !ok || !reflect.DeepEqual(av, bv) {
			out = append(out, p.Key(k).String())
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, p.Key(k).String())
		}
	}
	return out
}

// enumValue returns v when it is a short string, otherwise "".
func enumValue(v any) string {
	s, _ := v.(string)
	if len(s) > maxValueLength {
		return ""
	}
	return s
}

// permissions returns an APIKey's spec.permissions as feature → level.
func permissions(obj withStatus) map[string]string {
	perms := asMap(asMap(obj.Spec)["permissions"])
	if len(perms) == 0 {
		return nil
	}
	out := make(map[string]string, len(perms))
	for feature, level := range perms {
		if v := enumValue(level); v != "" && len(feature) <= maxValueLength {
			out[feature] = v
		}
	}
	return out
}
