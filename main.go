// Command tenantward is the tenantward operator: controllers, admission webhooks,
// the API-key verifier and the audit trail, plus tools around them.
//
//	tenantward [manager] [flags]   run the operator in a cluster (the default)
//	tenantward local [flags]       run everything on a local control plane it starts itself
//	tenantward audit [flags]       filter and print an audit trail
//
// The key verifier alone is a binary of its own, cmd/tenantward-verifier.
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/tenantward/tenantward/internal/audit"
	"github.com/tenantward/tenantward/internal/local"
	"github.com/tenantward/tenantward/internal/manager"
)

var commands = map[string]func(args []string) error{
	"manager": manager.Command,
	"local":   local.Command,
	"audit":   audit.Command,
}

func main() {
	args := os.Args[1:]
	name := "manager"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "tenantward: unknown command %q (manager, local, audit; the verifier is the tenantward-verifier binary)\n", name)
		os.Exit(2)
	}
	if err := cmd(args); err != nil {
		fmt.Fprintln(os.Stderr, "tenantward "+name+":", err)
		os.Exit(1)
	}
}
