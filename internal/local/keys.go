package local

import (
	"context"
	"fmt"
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/manager"
)

// waitForKeys waits until the operator has issued every APIKey and returns the
// first workspace key (by namespace and name), the one the printed curl line
// verifies. It returns nil when there is no workspace key.
func waitForKeys(ctx context.Context, cfg *rest.Config) (*accessv1alpha1.APIKey, error) {
	c, err := client.New(cfg, client.Options{Scheme: manager.Scheme})
	if err != nil {
		return nil, err
	}
	var keys accessv1alpha1.APIKeyList
	pending := ""
	err = wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if err := c.List(ctx, &keys); err != nil {
			return false, err
		}
		for i := range keys.Items {
			if keys.Items[i].Status.Hash == "" {
				pending = keys.Items[i].Namespace + "/" + keys.Items[i].Name
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("waiting for the operator to issue APIKey %s: %w", pending, err)
	}
	sort.Slice(keys.Items, func(i, j int) bool {
		a, b := keys.Items[i], keys.Items[j]
		return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
	})
	for i := range keys.Items {
		if keys.Items[i].Status.Type == accessv1alpha1.KeyTypeWorkspace {
			return &keys.Items[i], nil
		}
	}
	return nil, nil
}
