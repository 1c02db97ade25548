// Package plugin is the kubectl plugin `kubectl tenantward`, the org switcher:
// whoami, orgs, workspaces, use ORG[/WS] and access, all read from the tenant
// view (tenancy.tenantward.io) as the kubeconfig's user. `use` changes only the
// current context's namespace.
package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	tenancyv1alpha1 "github.com/tenantward/tenantward/api/tenancy/v1alpha1"
	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
)

var scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(tenancyv1alpha1.AddToScheme(scheme))
}

const usage = `kubectl tenantward: your organizations and workspaces, from the tenant view.

  kubectl tenantward whoami                  who you are, your organizations and roles
  kubectl tenantward orgs                    your organizations
  kubectl tenantward workspaces [--org ORG]  your workspaces
  kubectl tenantward use ORG[/WS]            make ORG's or WS's namespace the current context's namespace
  kubectl tenantward access [-n NS]          what you hold in a namespace and why

Flags: --kubeconfig FILE, --as USER, --as-group GROUP, -o table|json|yaml`

// Run runs the plugin with args (without the program name).
func Run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("no command\n\n" + usage)
	}
	cmd, rest := args[0], args[1:]
	fs := flag.NewFlagSet("kubectl tenantward "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	output := fs.String("o", "table", "output: table, json or yaml")
	namespace := fs.String("n", "", "namespace (access; default: the current context's)")
	org := fs.String("org", "", "only this organization's workspaces")
	as := fs.String("as", "", "user to impersonate, as kubectl --as")
	var asGroups stringList
	fs.Var(&asGroups, "as-group", "group to impersonate, as kubectl --as-group (repeatable)")
	// Flags may come before or after the arguments, as with kubectl.
	var positional []string
	for {
		if err := fs.Parse(rest); err != nil {
			return fmt.Errorf("%w\n\n%s", err, usage)
		}
		if fs.NArg() == 0 {
			break
		}
		positional, rest = append(positional, fs.Arg(0)), fs.Args()[1:]
	}
	if *output != "table" && *output != "json" && *output != "yaml" {
		return fmt.Errorf("-o %s: want table, json or yaml", *output)
	}
	loader := clientcmd.NewDefaultClientConfigLoadingRules()
	loader.ExplicitPath = *kubeconfig
	overrides := &clientcmd.ConfigOverrides{}
	overrides.AuthInfo.Impersonate, overrides.AuthInfo.ImpersonateGroups = *as, asGroups
	kc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(loader, overrides)
	cfg, err := kc.ClientConfig()
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	p := printer{out: out, format: *output}
	switch cmd {
	case "whoami":
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return err
		}
		review, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("asking who you are: %w", err)
		}
		var orgs tenancyv1alpha1.OrganizationList
		if err := c.List(ctx, &orgs); err != nil {
			return err
		}
		u := review.Status.UserInfo
		if p.format != "table" {
			return p.object(map[string]any{"user": u.Username, "groups": u.Groups, "organizations": orgs.Items})
		}
		fmt.Fprintf(out, "User:   %s\nGroups: %s\n\n", u.Username, strings.Join(u.Groups, ", "))
		return p.orgs(orgs)
	case "orgs":
		var orgs tenancyv1alpha1.OrganizationList
		if err := c.List(ctx, &orgs); err != nil {
			return err
		}
		return p.orgs(orgs)
	case "workspaces":
		var ws tenancyv1alpha1.WorkspaceList
		opts := []client.ListOption{}
		if *org != "" {
			opts = append(opts, client.MatchingLabels{accessv1alpha1.LabelOrganization: *org})
		}
		if err := c.List(ctx, &ws, opts...); err != nil {
			return err
		}
		return p.workspaces(ws)
	case "use":
		if len(positional) != 1 {
			return fmt.Errorf("use ORG or ORG/WS\n\n%s", usage)
		}
		ns, err := namespaceOf(ctx, c, positional[0])
		if err != nil {
			return err
		}
		if err := setNamespace(kc, ns); err != nil {
			return err
		}
		fmt.Fprintf(out, "Namespace of the current context is now %s (%s).\n", ns, positional[0])
		return nil
	case "access":
		ns := *namespace
		if ns == "" {
			if ns, _, err = kc.Namespace(); err != nil {
				return err
			}
		}
		var list tenancyv1alpha1.AccessList
		if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return err
		}
		return p.access(ns, list)
	}
	return fmt.Errorf("unknown command %q\n\n%s", cmd, usage)
}

// namespaceOf finds the namespace of ORG or ORG/WS among the caller's own.
func namespaceOf(ctx context.Context, c client.Client, target string) (string, error) {
	org, ws, inWorkspace := strings.Cut(target, "/")
	if !inWorkspace {
		var o tenancyv1alpha1.Organization
		if err := c.Get(ctx, client.ObjectKey{Name: org}, &o); err != nil {
			return "", fmt.Errorf("organization %s: %w", org, err)
		}
		return o.Namespace, nil
	}
	var list tenancyv1alpha1.WorkspaceList
	if err := c.List(ctx, &list, client.MatchingLabels{accessv1alpha1.LabelOrganization: org, accessv1alpha1.LabelWorkspace: ws}); err != nil {
		return "", err
	}
	if len(list.Items) != 1 {
		return "", fmt.Errorf("you have no workspace %s in organization %s (see kubectl tenantward workspaces)", ws, org)
	}
	return list.Items[0].Namespace, nil
}

// setNamespace sets the current context's namespace, and nothing else, in the
// kubeconfig file that defines the context.
func setNamespace(kc clientcmd.ClientConfig, ns string) error {
	raw, err := kc.RawConfig()
	if err != nil {
		return err
	}
	ctx, ok := raw.Contexts[raw.CurrentContext]
	if !ok {
		return fmt.Errorf("the kubeconfig has no current context")
	}
	ctx.Namespace = ns
	return clientcmd.ModifyConfig(kc.ConfigAccess(), raw, false)
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

type printer struct {
	out    io.Writer
	format string
}

func (p printer) object(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if p.format == "yaml" {
		if b, err = yaml.JSONToYAML(b); err != nil {
			return err
		}
	} else {
		b = append(b, '\n')
	}
	_, err = p.out.Write(b)
	return err
}

func (p printer) table(header string, rows [][]string) error {
	w := tabwriter.NewWriter(p.out, 0, 4, 3, ' ', 0)
	fmt.Fprintln(w, header)
	for _, r := range rows {
		fmt.Fprintln(w, strings.Join(r, "\t"))
	}
	return w.Flush()
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

func (p printer) orgs(l tenancyv1alpha1.OrganizationList) error {
	if p.format != "table" {
		return p.object(l)
	}
	rows := make([][]string, 0, len(l.Items))
	for _, o := range l.Items {
		rows = append(rows, []string{o.Name, orNone(o.Role), o.Namespace, orNone(o.DisplayName), orNone(strings.Join(o.Workspaces, ","))})
	}
	return p.table("ORGANIZATION\tROLE\tNAMESPACE\tDISPLAY NAME\tWORKSPACES", rows)
}

func (p printer) workspaces(l tenancyv1alpha1.WorkspaceList) error {
	if p.format != "table" {
		return p.object(l)
	}
	rows := make([][]string, 0, len(l.Items))
	for _, w := range l.Items {
		rows = append(rows, []string{w.Organization + "/" + w.Workspace, w.Role, w.Namespace, orNone(w.DisplayName)})
	}
	return p.table("WORKSPACE\tROLE\tNAMESPACE\tDISPLAY NAME", rows)
}

func (p printer) access(ns string, l tenancyv1alpha1.AccessList) error {
	if p.format != "table" {
		return p.object(l)
	}
	if len(l.Items) == 0 {
		_, err := fmt.Fprintf(p.out, "You hold no role in namespace %s.\n", ns)
		return err
	}
	a := l.Items[0]
	where := a.Organization
	if a.Workspace != "" {
		where += "/" + a.Workspace
	}
	fmt.Fprintf(p.out, "Namespace: %s (%s)\nRole:      %s\nFrom:\n", ns, where, a.Role)
	for _, m := range a.Memberships {
		fmt.Fprintf(p.out, "  Membership %s/%s: %s as %s\n", m.Namespace, m.Name, m.Subject, m.Role)
	}
	fmt.Fprintln(p.out)
	rows := make([][]string, 0, len(a.Permissions))
	for _, perm := range a.Permissions {
		rows = append(rows, []string{perm.Title, strings.Join(perm.Actions, ", "), strings.Join(perm.Verbs, ",")})
	}
	if err := p.table("FEATURE\tACTIONS\tVERBS", rows); err != nil {
		return err
	}
	fmt.Fprintln(p.out)
	rows = rows[:0]
	for _, k := range a.KeyCeiling {
		rows = append(rows, []string{k.Permission, k.Level})
	}
	return p.table("API-KEY PERMISSION\tHIGHEST LEVEL", rows)
}
