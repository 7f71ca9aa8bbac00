# syntax=docker/dockerfile:1

# quotawatch container image.
#
#   docker build --build-arg VERSION=v1.2.3 --build-arg COMMIT=$(git rev-parse --short HEAD) \
#     -t ghcr.io/quotawatch/quotawatch:v1.2.3 .
#
# The binary is produced by scripts/build.sh, the same release build CI runs
# (CGO_ENABLED=0, -trimpath, static), so the image holds exactly what CI tested.
#
# At run time mount the config at /etc/quotawatch/config.yaml (read-only) and
# a writable volume at /var/lib/quotawatch, and set
#   state_file: /var/lib/quotawatch/state.json
# in the config: a relative state_file resolves against the config's own
# directory, which is read-only. See deploy/kubernetes/ for manifests.

FROM golang:1.26 AS build
# Build with the toolchain go.mod pins (patched standard library); the golang
# image sets GOTOOLCHAIN=local, which would ignore the pin. The go command
# fetches it from the module proxy in the next step.
ENV GOTOOLCHAIN=go1.27.3
WORKDIR /src
# Modules first, so this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
RUN VERSION=$VERSION COMMIT=$COMMIT ./scripts/build.sh /out/quotawatch \
	&& /out/quotawatch version \
	&& mkdir -p /out/state

# distroless/static: CA certificates, tzdata, /etc/passwd with nonroot
# (65532), no shell and no libc — the static binary is all that runs.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/quotawatch /usr/local/bin/quotawatch
# An empty state directory owned by the runtime user, so a fresh named volume
# mounted here is writable without extra steps.
COPY --from=build --chown=65532:65532 /out/state /var/lib/quotawatch
ENV QUOTAWATCH_CONFIG=/etc/quotawatch/config.yaml
WORKDIR /var/lib/quotawatch
USER 65532:65532
VOLUME /var/lib/quotawatch
EXPOSE 9090
ENTRYPOINT ["quotawatch"]
CMD ["run"]
