package verifier

import "errors"

// Command runs only the key verifier: `tenantward verifier [flags]`.
// Placeholder until the API-key issue lands.
func Command(_ []string) error { return errors.New("the verifier is not built yet") }
