package tenantview

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"

	tenancyv1alpha1 "github.com/tenantward/tenantward/api/tenancy/v1alpha1"
	"github.com/tenantward/tenantward/internal/webhook"
)

// requester is the caller the aggregation layer authenticated.
func requester(ctx context.Context) (webhook.Requester, error) {
	u, ok := request.UserFrom(ctx)
	if !ok || u.GetName() == "" {
		return webhook.Requester{}, apierrors.NewUnauthorized("the tenant view needs an authenticated user")
	}
	return webhook.Requester{Name: u.GetName(), Groups: u.GetGroups()}, nil
}

// view is one read-only, cluster-scoped resource of the tenant view: items
// lists the caller's objects, name returns an item's name.
type view[T any] struct {
	resource, singular, kind string
	namespaced               bool
	newObj                   func() runtime.Object
	newList                  func([]T) runtime.Object
	// one wraps an item as an object; unpack returns the items of an item or list.
	one     func(T) runtime.Object
	unpack  func(runtime.Object) ([]T, bool)
	items   func(context.Context, webhook.Requester) ([]T, error)
	meta    func(*T) *metav1.ObjectMeta
	columns []metav1.TableColumnDefinition
	cells   func(*T) []any
}

var (
	_ rest.Storage              = (*view[tenancyv1alpha1.Organization])(nil)
	_ rest.Lister               = (*view[tenancyv1alpha1.Organization])(nil)
	_ rest.Getter               = (*view[tenancyv1alpha1.Organization])(nil)
	_ rest.Scoper               = (*view[tenancyv1alpha1.Organization])(nil)
	_ rest.SingularNameProvider = (*view[tenancyv1alpha1.Organization])(nil)
	_ rest.ShortNamesProvider   = (*view[tenancyv1alpha1.Organization])(nil)
)

func (v *view[T]) New() runtime.Object     { return v.newObj() }
func (v *view[T]) NewList() runtime.Object { return v.newList(nil) }
func (v *view[T]) Destroy()                {}
func (v *view[T]) NamespaceScoped() bool   { return v.namespaced }
func (v *view[T]) GetSingularName() string { return v.singular }
func (v *view[T]) ShortNames() []string    { return []string{"my" + v.resource} }
func (v *view[T]) filter(sel labels.Selector, items []T) []T {
	if sel == nil || sel.Empty() {
		return items
	}
	out := items[:0]
	for i := range items {
		if sel.Matches(labels.Set(v.meta(&items[i]).Labels)) {
			out = append(out, items[i])
		}
	}
	return out
}

// List returns the caller's items; a caller in no organization gets an empty list.
func (v *view[T]) List(ctx context.Context, o *metainternalversion.ListOptions) (runtime.Object, error) {
	who, err := requester(ctx)
	if err != nil {
		return nil, err
	}
	items, err := v.items(ctx, who)
	if err != nil {
		return nil, statusError(err)
	}
	var sel labels.Selector
	if o != nil {
		sel = o.LabelSelector
	}
	return v.newList(v.filter(sel, items)), nil
}

// Get returns one of the caller's items; anyone else's is NotFound, exactly as
// a name that does not exist.
func (v *view[T]) Get(ctx context.Context, name string, _ *metav1.GetOptions) (runtime.Object, error) {
	who, err := requester(ctx)
	if err != nil {
		return nil, err
	}
	items, err := v.items(ctx, who)
	if err != nil {
		return nil, statusError(err)
	}
	for i := range items {
		if v.meta(&items[i]).Name == name {
			return v.one(items[i]), nil
		}
	}
	return nil, apierrors.NewNotFound(tenancyv1alpha1.GroupVersion.WithResource(v.resource).GroupResource(), name)
}

// ConvertToTable prints the view's columns for kubectl get.
func (v *view[T]) ConvertToTable(_ context.Context, obj runtime.Object, _ runtime.Object) (*metav1.Table, error) {
	items, ok := v.unpack(obj)
	if !ok {
		return nil, fmt.Errorf("%s: cannot print a %T", v.kind, obj)
	}
	t := &metav1.Table{ColumnDefinitions: v.columns}
	for i := range items {
		x := &items[i]
		t.Rows = append(t.Rows, metav1.TableRow{Cells: append([]any{v.meta(x).Name}, v.cells(x)...), Object: runtime.RawExtension{Object: v.one(*x)}})
	}
	return t, nil
}

// statusError keeps an API status (a bad request) and turns anything else
// into an internal error.
func statusError(err error) error {
	if _, ok := err.(apierrors.APIStatus); ok {
		return err
	}
	return apierrors.NewInternalError(err)
}

func nameColumn(desc string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: desc}
}

func column(name, desc string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: "string", Description: desc}
}

// organizations is the caller's organizations.
func organizations(s Source) *view[tenancyv1alpha1.Organization] {
	return &view[tenancyv1alpha1.Organization]{
		resource: "organizations", singular: "organization", kind: "Organization",
		newObj: func() runtime.Object { return &tenancyv1alpha1.Organization{} },
		newList: func(items []tenancyv1alpha1.Organization) runtime.Object {
			return &tenancyv1alpha1.OrganizationList{Items: items}
		},
		one: func(o tenancyv1alpha1.Organization) runtime.Object { return &o },
		unpack: func(obj runtime.Object) ([]tenancyv1alpha1.Organization, bool) {
			switch o := obj.(type) {
			case *tenancyv1alpha1.OrganizationList:
				return o.Items, true
			case *tenancyv1alpha1.Organization:
				return []tenancyv1alpha1.Organization{*o}, true
			}
			return nil, false
		},
		items: s.Organizations,
		meta:  func(o *tenancyv1alpha1.Organization) *metav1.ObjectMeta { return &o.ObjectMeta },
		columns: []metav1.TableColumnDefinition{
			nameColumn("The organization's name."),
			column("Role", "Your organization role; empty when you are only in its workspaces."),
			column("Namespace", "The organization's namespace."),
			column("Display-Name", "The organization's display name."),
			column("Workspaces", "The workspaces you may work in."),
		},
		cells: func(o *tenancyv1alpha1.Organization) []any {
			return []any{o.Role, o.Namespace, o.DisplayName, strings.Join(o.Workspaces, ",")}
		},
	}
}

// workspaces is the caller's workspaces.
func workspaces(s Source) *view[tenancyv1alpha1.Workspace] {
	return &view[tenancyv1alpha1.Workspace]{
		resource: "workspaces", singular: "workspace", kind: "Workspace",
		newObj: func() runtime.Object { return &tenancyv1alpha1.Workspace{} },
		newList: func(items []tenancyv1alpha1.Workspace) runtime.Object {
			return &tenancyv1alpha1.WorkspaceList{Items: items}
		},
		one: func(o tenancyv1alpha1.Workspace) runtime.Object { return &o },
		unpack: func(obj runtime.Object) ([]tenancyv1alpha1.Workspace, bool) {
			switch o := obj.(type) {
			case *tenancyv1alpha1.WorkspaceList:
				return o.Items, true
			case *tenancyv1alpha1.Workspace:
				return []tenancyv1alpha1.Workspace{*o}, true
			}
			return nil, false
		},
		items: s.Workspaces,
		meta:  func(o *tenancyv1alpha1.Workspace) *metav1.ObjectMeta { return &o.ObjectMeta },
		columns: []metav1.TableColumnDefinition{
			nameColumn("The workspace's namespace."),
			column("Organization", "The organization."),
			column("Workspace", "The workspace's name in its organization."),
			column("Role", "The role that acts there: the higher of your organization and workspace roles."),
			column("Display-Name", "The workspace's display name."),
		},
		cells: func(o *tenancyv1alpha1.Workspace) []any {
			return []any{o.Organization, o.Workspace, o.Role, o.DisplayName}
		},
	}
}

// accesses is what the caller holds in the request's namespace and why.
func accesses(s Source) *view[tenancyv1alpha1.Access] {
	return &view[tenancyv1alpha1.Access]{
		resource: "accesses", singular: "access", kind: "Access", namespaced: true,
		newObj: func() runtime.Object { return &tenancyv1alpha1.Access{} },
		newList: func(items []tenancyv1alpha1.Access) runtime.Object {
			return &tenancyv1alpha1.AccessList{Items: items}
		},
		one: func(o tenancyv1alpha1.Access) runtime.Object { return &o },
		unpack: func(obj runtime.Object) ([]tenancyv1alpha1.Access, bool) {
			switch o := obj.(type) {
			case *tenancyv1alpha1.AccessList:
				return o.Items, true
			case *tenancyv1alpha1.Access:
				return []tenancyv1alpha1.Access{*o}, true
			}
			return nil, false
		},
		items: func(ctx context.Context, who webhook.Requester) ([]tenancyv1alpha1.Access, error) {
			ns, ok := request.NamespaceFrom(ctx)
			if !ok || ns == "" {
				return nil, apierrors.NewBadRequest("accesses are per namespace: name one with -n")
			}
			return s.Access(ctx, who, ns)
		},
		meta: func(o *tenancyv1alpha1.Access) *metav1.ObjectMeta { return &o.ObjectMeta },
		columns: []metav1.TableColumnDefinition{
			nameColumn("Always mine."),
			column("Organization", "The organization."),
			column("Workspace", "The workspace; empty in the org namespace."),
			column("Role", "The role that acts here."),
			column("Memberships", "The Memberships the role comes from."),
		},
		cells: func(o *tenancyv1alpha1.Access) []any {
			var ms []string
			for _, m := range o.Memberships {
				ms = append(ms, m.Namespace+"/"+m.Name+"("+m.Role+")")
			}
			return []any{o.Organization, o.Workspace, o.Role, strings.Join(ms, ",")}
		},
	}
}
