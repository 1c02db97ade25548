package manager

import (
	"flag"

	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// Command runs the operator in a cluster: `tenantward manager [flags]`.
func Command(args []string) error {
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	var o Options
	o.BindFlags(fs)
	// JSON lines (zap's production encoder) unless --zap-devel; RFC 3339 times so
	// log pipelines need no epoch conversion.
	zo := zap.Options{TimeEncoder: zapcore.RFC3339NanoTimeEncoder}
	zo.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zo)))
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return err
	}
	return Run(ctrl.SetupSignalHandler(), cfg, o)
}
