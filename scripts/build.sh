#!/bin/sh
# The one release build: CI runs it and so does the Dockerfile, so the image
# holds exactly the binary CI exercised. Usage: scripts/build.sh [OUTPUT]
set -eu
out=${1:-bin/quotawatch}
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
commit=${COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
pkg=github.com/quotawatch/quotawatch/internal/version
CGO_ENABLED=0 go build -trimpath \
	-ldflags "-s -w -X $pkg.Version=$version -X $pkg.Commit=$commit" \
	-o "$out" ./cmd/quotawatch
