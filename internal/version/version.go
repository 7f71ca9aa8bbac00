// Package version holds the build's identity, stamped by scripts/build.sh
// through -ldflags -X. Builds made any other way (go install …@v1.2.3,
// go build in a checkout) fall back to what the Go toolchain recorded in the
// binary: the module version and the VCS revision.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at build time; the defaults describe a build without -ldflags, and
// are then filled from the binary's build information where it has any.
var (
	Version = "dev"
	Commit  = "unknown"
)

func init() {
	info, _ := debug.ReadBuildInfo()
	Version, Commit = fromBuildInfo(Version, Commit, info)
}

// fromBuildInfo fills an unstamped version or commit from info: the main
// module's version (not "(devel)"), and vcs.revision cut to 12 characters
// with "-dirty" when vcs.modified is true.
func fromBuildInfo(version, commit string, info *debug.BuildInfo) (string, string) {
	if info == nil {
		return version, commit
	}
	if version == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		version = info.Main.Version
	}
	if commit == "unknown" {
		var rev string
		var modified bool
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if rev != "" {
			commit = rev[:min(len(rev), 12)]
			if modified {
				commit += "-dirty"
			}
		}
	}
	return version, commit
}

// UserAgent is sent with every outgoing request.
func UserAgent() string { return "quotawatch/" + Version }

// String is the one-line answer of `quotawatch version`.
func String() string {
	return fmt.Sprintf("quotawatch %s (commit %s, %s, %s/%s)", Version, Commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
