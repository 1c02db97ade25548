// Command kubectl-tenantward is the kubectl plugin `kubectl tenantward`, the
// org switcher (internal/plugin). Install it with
// `go install github.com/tenantward/tenantward/cmd/kubectl-tenantward@latest`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/tenantward/tenantward/internal/plugin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := plugin.Run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
