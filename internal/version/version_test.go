package version

import (
	"runtime/debug"
	"testing"
)

func TestFallBackToBuildInfo(t *testing.T) {
	setting := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i+1 < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	tests := []struct {
		name                  string
		version, commit       string // stamped by -ldflags
		info                  *debug.BuildInfo
		wantVersion, wantComm string
	}{
		{"go install @version", "dev", "unknown",
			&debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}},
			"v1.4.0", "unknown"},
		{"go build in a checkout", "dev", "unknown",
			&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: setting("vcs.revision", "0123456789abcdef0123", "vcs.modified", "false")},
			"dev", "0123456789ab"},
		{"modified checkout", "dev", "unknown",
			&debug.BuildInfo{Main: debug.Module{Version: "v1.4.1-0.20261124050000-0123456789ab+dirty"}, Settings: setting("vcs.revision", "0123456789abcdef0123", "vcs.modified", "true")},
			"v1.4.1-0.20261124050000-0123456789ab+dirty", "0123456789ab-dirty"},
		{"stamped by scripts/build.sh wins", "v2.0.0", "abc1234",
			&debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}, Settings: setting("vcs.revision", "0123456789abcdef0123")},
			"v2.0.0", "abc1234"},
		{"no build info", "dev", "unknown", nil, "dev", "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, c := fromBuildInfo(tt.version, tt.commit, tt.info)
			if v != tt.wantVersion || c != tt.wantComm {
				t.Errorf("got %q, %q; want %q, %q", v, c, tt.wantVersion, tt.wantComm)
			}
		})
	}
}
