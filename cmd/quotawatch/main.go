// Command quotawatch watches the balance of AIHubMix (one-api / new-api)
// accounts and alerts before the money runs out. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // spend.timezone works in images without /usr/share/zoneinfo (distroless)

	"github.com/quotawatch/quotawatch/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
