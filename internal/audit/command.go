package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// maxLineLength bounds one line of an audit trail; longer lines are reported
// as malformed and skipped.
const maxLineLength = 1 << 20

// maxReportedLines bounds how many malformed lines are reported one by one.
const maxReportedLines = 20

// Command filters and prints an audit trail: `tenantward audit [flags]`.
func Command(args []string) error {
	return RunReader(args, os.Stdin, os.Stdout, os.Stderr, time.Now())
}

// Filter selects audit records; an empty field matches everything.
type Filter struct {
	Organization, Workspace, Actor, Action, Kind, Resource, Namespace, Name, Decision string
	// Since and Until bound the record time (inclusive); zero is unbounded.
	Since, Until time.Time
}

// Matches reports whether r passes every set condition. Actor matches the user
// name or the service account (<namespace>/<name>); kind and resource ignore case.
func (f Filter) Matches(r Record) bool {
	return match(f.Organization, r.Organization) &&
		match(f.Workspace, r.Workspace) &&
		(f.Actor == "" || f.Actor == r.Actor.Username || f.Actor == r.Actor.ServiceAccount) &&
		match(f.Action, r.Action) &&
		(f.Kind == "" || strings.EqualFold(f.Kind, r.Resource.Kind)) &&
		(f.Resource == "" || strings.EqualFold(f.Resource, r.Resource.Resource)) &&
		match(f.Namespace, r.Resource.Namespace) &&
		match(f.Name, r.Resource.Name) &&
		match(f.Decision, r.Decision) &&
		(f.Since.IsZero() || !r.Time.Before(f.Since)) &&
		(f.Until.IsZero() || !r.Time.After(f.Until))
}

func match(want, got string) bool { return want == "" || want == got }

// ParseTimeBound reads a --since or --until value: an RFC 3339 time, or a
// duration (1h, 30m) meaning that long before now.
func ParseTimeBound(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2026-01-02T15:04:05Z) nor a positive duration (1h, 30m)", s)
	}
	return now.Add(-d), nil
}

// RunReader runs the audit command on the given streams; now anchors --since
// and --until durations.
func RunReader(args []string, stdin io.Reader, stdout, stderr io.Writer, now time.Time) error {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f Filter
	var file, output, since, until string
	fs.StringVar(&file, "file", "-", "JSON-lines audit trail to read; - reads standard input")
	fs.StringVar(&f.Organization, "organization", "", "only records of this organization")
	fs.StringVar(&f.Workspace, "workspace", "", "only records of this workspace")
	fs.StringVar(&f.Actor, "actor", "", "only records by this user name or service account (<namespace>/<name>)")
	fs.StringVar(&f.Action, "action", "", "only this action (create, update, delete, apikey.rotated, ...)")
	fs.StringVar(&f.Kind, "kind", "", "only this kind (Membership, APIKey, Prompt, ...)")
	fs.StringVar(&f.Resource, "resource", "", "only this resource (memberships, apikeys, prompts, ...)")
	fs.StringVar(&f.Namespace, "namespace", "", "only objects in this namespace")
	fs.StringVar(&f.Name, "name", "", "only objects with this name")
	fs.StringVar(&f.Decision, "decision", "", "only this decision: allowed or denied")
	fs.StringVar(&since, "since", "", "only records at or after this time (RFC 3339, or a duration such as 1h)")
	fs.StringVar(&until, "until", "", "only records at or before this time (RFC 3339, or a duration such as 1h)")
	fs.StringVar(&output, "output", "table", "output format: table or json (JSON lines, as recorded)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: the trail is read from --file", fs.Args())
	}
	var errs []error
	var err error
	if f.Since, err = ParseTimeBound(since, now); err != nil {
		errs = append(errs, fmt.Errorf("--since: %w", err))
	}
	if f.Until, err = ParseTimeBound(until, now); err != nil {
		errs = append(errs, fmt.Errorf("--until: %w", err))
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Since.After(f.Until) {
		errs = append(errs, fmt.Errorf("--since %s is after --until %s", f.Since.Format(time.RFC3339), f.Until.Format(time.RFC3339)))
	}
	if f.Decision != "" && f.Decision != DecisionAllowed && f.Decision != DecisionDenied {
		errs = append(errs, fmt.Errorf("--decision %q: use %s or %s", f.Decision, DecisionAllowed, DecisionDenied))
	}
	if output != "table" && output != "json" {
		errs = append(errs, fmt.Errorf("--output %q: use table or json", output))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}

	in := stdin
	if file != "-" {
		fh, err := os.Open(file)
		if err != nil {
			return err
		}
		defer fh.Close()
		in = fh
	}
	p := newPrinter(output, stdout)
	malformed, err := scan(in, f, p.print, stderr)
	if err != nil {
		return err
	}
	if err := p.flush(); err != nil {
		return err
	}
	if malformed > 0 {
		fmt.Fprintf(stderr, "tenantward audit: skipped %d malformed line(s)\n", malformed)
	}
	return nil
}

// scan decodes each line of in, hands the matching records to emit and reports
// malformed lines on stderr with their line numbers. It returns how many lines
// were malformed.
func scan(in io.Reader, f Filter, emit func(Record, []byte) error, stderr io.Writer) (int, error) {
	r := bufio.NewReaderSize(in, 64<<10)
	malformed := 0
	report := func(n int, format string, args ...any) {
		malformed++
		if malformed <= maxReportedLines {
			fmt.Fprintf(stderr, "line %d: "+format+"\n", append([]any{n}, args...)...)
		}
	}
	for n := 1; ; n++ {
		line, tooLong, err := readLine(r)
		if err != nil && !errors.Is(err, io.EOF) {
			return malformed, fmt.Errorf("reading line %d: %w", n, err)
		}
		if errors.Is(err, io.EOF) && len(line) == 0 && !tooLong {
			return malformed, nil
		}
		switch line = bytes.TrimSpace(line); {
		case tooLong:
			report(n, "longer than %d bytes", maxLineLength)
		case len(line) == 0:
		default:
			var rec Record
			if err := json.Unmarshal(line, &rec); err != nil {
				report(n, "not an audit record: %v", err)
			} else if rec.SchemaVersion == "" {
				report(n, "not an audit record: no schemaVersion")
			} else if f.Matches(rec) {
				if err := emit(rec, line); err != nil {
					return malformed, err
				}
			}
		}
		if errors.Is(err, io.EOF) {
			return malformed, nil
		}
	}
}

// readLine reads one line without its newline. A line longer than
// maxLineLength is consumed and reported as tooLong instead of returned.
func readLine(r *bufio.Reader) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > maxLineLength+1 {
			tooLong, line = true, nil
		} else if !tooLong {
			line = append(line, chunk...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return bytes.TrimSuffix(line, []byte("\n")), tooLong, err
	}
}

// printer writes matching records as a table or as the JSON lines they were.
type printer struct {
	json bool
	out  io.Writer
	tw   *tabwriter.Writer
	rows int
}

func newPrinter(output string, out io.Writer) *printer {
	return &printer{json: output == "json", out: out, tw: tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)}
}

func (p *printer) print(r Record, line []byte) error {
	if p.json {
		_, err := fmt.Fprintf(p.out, "%s\n", line)
		return err
	}
	if p.rows == 0 {
		fmt.Fprintln(p.tw, "TIME\tACTION\tDECISION\tACTOR\tRESOURCE\tORGANIZATION\tWORKSPACE\tREASON")
	}
	p.rows++
	decision := r.Decision
	if r.DryRun {
		decision += " (dry-run)"
	}
	actor := r.Actor.Username
	if r.Actor.ServiceAccount != "" {
		actor = "sa:" + r.Actor.ServiceAccount
	}
	resource := r.Resource.Kind + " " + r.Resource.Name
	if r.Resource.Namespace != "" {
		resource = r.Resource.Kind + " " + r.Resource.Namespace + "/" + r.Resource.Name
	}
	_, err := fmt.Fprintf(p.tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Time.UTC().Format(time.RFC3339), r.Action, decision,
		cell(actor), cell(resource), cell(r.Organization), cell(r.Workspace), cell(truncate(r.Reason, 80)))
	return err
}

func (p *printer) flush() error {
	if !p.json && p.rows == 0 {
		fmt.Fprintln(p.out, "No audit records match.")
	}
	return p.tw.Flush()
}

// cell keeps a value on one table row.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(s)
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
