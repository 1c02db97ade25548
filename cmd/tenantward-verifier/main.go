// Command tenantward-verifier is tenantward's API-key verifier on its own, the
// verifier Deployment of the chart. It imports the verifier alone (no
// controllers, no manager), which keeps its memory small:
//
//	tenantward-verifier [flags]
//
// The operator (cmd tenantward) embeds the same verifier when it runs with
// --verifier-bind-address.
package main

import (
	"fmt"
	"os"

	"github.com/tenantward/tenantward/internal/verifier"
)

func main() {
	if err := verifier.Command(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "tenantward-verifier:", err)
		os.Exit(1)
	}
}
