package tenantview_test

import (
	"fmt"
	"slices"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/tenantward/tenantward/api/tenancy/v1alpha1"
	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
)

// TestAccessShowsPersonalKeysWhereAllowed: a member's access view lists the
// Personal API keys row, on apikeys, in a workspace that allows personal
// keys, and not in one that does not (where the operator binds no such role).
func TestAccessShowsPersonalKeysWhereAllowed(t *testing.T) {
	orgNS, wsNS := newOrg(t, "view-personal", "on", "off")
	ws := &accessv1alpha1.Workspace{}
	if err := op.Admin.Get(ctx, client.ObjectKey{Namespace: orgNS, Name: "on"}, ws); err != nil {
		t.Fatal(err)
	}
	ws.Spec.APIKeys = &accessv1alpha1.WorkspaceKeyPolicy{PersonalKeys: accessv1alpha1.ToggleEnabled}
	if err := op.Admin.Update(ctx, ws); err != nil {
		t.Fatal(err)
	}
	member(t, orgNS, user("pia@view.test"), accessv1alpha1.RoleMember)
	pia := asUser(t, "pia@view.test")
	personal := func(ns string) ([]string, error) {
		var l tenancyv1alpha1.AccessList
		if err := pia.List(ctx, &l, client.InNamespace(ns)); err != nil {
			return nil, err
		}
		if len(l.Items) != 1 {
			return nil, fmt.Errorf("%d access items", len(l.Items))
		}
		for _, p := range l.Items[0].Permissions {
			if p.Feature == "personal-api-keys" {
				return p.Resources, nil
			}
		}
		return nil, nil
	}
	eventually(t, "pia's personal keys where they are on", func() error {
		res, err := personal(wsNS["on"])
		if err == nil && !slices.Equal(res, []string{"apikeys.access.tenantward.io"}) {
			err = fmt.Errorf("personal-api-keys on %v", res)
		}
		return err
	})
	eventually(t, "no personal keys where they are off", func() error {
		res, err := personal(wsNS["off"])
		if err == nil && res != nil {
			err = fmt.Errorf("personal-api-keys on %v where they are off", res)
		}
		return err
	})
}
