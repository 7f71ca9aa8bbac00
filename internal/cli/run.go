package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/quotawatch/quotawatch/internal/app"
	"github.com/quotawatch/quotawatch/internal/config"
)

func runService(ctx context.Context, e *env, _ any, _ []string) int {
	cfg, ok := e.loadConfig()
	if !ok {
		return ExitUsage
	}
	// ctx ends on SIGTERM/SIGINT (main installs that); SIGHUP reloads.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				select {
				case reload <- struct{}{}:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	svc := &app.Service{
		Logger: e.logger,
		Stdout: e.stdout,
		Load:   func() (*config.Config, error) { return loadConfigFile(e.configPath, e.lookupEnv) },
	}
	if err := svc.Run(ctx, cfg, reload); err != nil {
		e.fail(err)
		return ExitFailure
	}
	return ExitOK
}
