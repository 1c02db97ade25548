package audit

// Config configures the audit sinks. The zero value writes to standard output.
type Config struct {
	// Stdout writes records to standard output as JSON lines (default true when no
	// other sink is configured).
	Stdout *bool `json:"stdout,omitempty"`
	// File appends records as JSON lines to this path.
	File string `json:"file,omitempty"`
}
