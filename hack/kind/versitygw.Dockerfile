# versitygw (Apache-2.0, github.com/versity/versitygw), the S3 server of chunkgc's own tests, as an image for the
# kind end-to-end run: built from the Go module at the version the local suite pins
# (scripts/install.d/20-versitygw.sh), static, on a distroless base, as the numeric user 65532.
#   docker build -t chunkgc-e2e/versitygw:v1.8.0 -f hack/kind/versitygw.Dockerfile hack/kind
ARG GO_IMAGE=golang:1.26-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM ${GO_IMAGE} AS build
ARG VERSITYGW_VERSION=v1.8.0
RUN CGO_ENABLED=0 GOBIN=/out go install -trimpath -buildvcs=false \
      "github.com/versity/versitygw/cmd/versitygw@${VERSITYGW_VERSION}"

FROM ${RUNTIME_IMAGE}
COPY --from=build /out/versitygw /usr/local/bin/versitygw
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/versitygw"]
