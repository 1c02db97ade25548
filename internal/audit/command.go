package audit

import "errors"

// Command filters and prints an audit trail: `tenantward audit [flags]`.
// Placeholder until the audit issue lands.
func Command(_ []string) error { return errors.New("the audit reader is not built yet") }
