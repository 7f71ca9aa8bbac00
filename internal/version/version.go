// Package version holds the build's identity, stamped by scripts/build.sh
// through -ldflags -X.
package version

import (
	"fmt"
	"runtime"
)

// Set at build time; the defaults describe a plain `go run` or `go build`.
var (
	Version = "dev"
	Commit  = "unknown"
)

// UserAgent is sent with every outgoing request.
func UserAgent() string { return "quotawatch/" + Version }

// String is the one-line answer of `quotawatch version`.
func String() string {
	return fmt.Sprintf("quotawatch %s (commit %s, %s, %s/%s)", Version, Commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
