# syntax=docker/dockerfile:1
#
# The query service as a static binary on a distroless base, running as a non-root user.
# The go.work workspace replaces the libs with ../../libs/*, so the context is the whole
# repository. From the repository root:
#
#   docker build -f deployments/query.Dockerfile -t toptraffic/query .
#
#   docker run -e KAFKA_BROKERS=kafka:9092 toptraffic/query
#
# Needs BuildKit (the default builder since Docker 23) for the build cache mount.

ARG GO_IMAGE=golang:1.26-bookworm

# Stage 1: only the workspace and module manifests, kept in their directories. The stage
# reruns on every source change, but its output changes only with the dependencies, so the
# download layer below stays cached across code edits. Found with find rather than listed,
# so a new module in go.work needs no change here.
FROM ${GO_IMAGE} AS manifests
WORKDIR /src
COPY . .
RUN mkdir /manifests \
    && find . -type f \( -name go.work -o -name go.work.sum -o -name go.mod -o -name go.sum \) \
        -exec cp --parents {} /manifests/ \;

# Stage 2: download every module of the workspace, then build.
FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY --from=manifests /manifests/ ./
RUN go mod download
COPY . .
# CGO off gives a static binary that needs no libc in the final image; -trimpath and
# -s -w keep build paths and debug tables out of it.
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" \
        -o /out/query ./services/query/cmd/query

# Stage 3: the binary alone. static-debian12 brings CA certificates, tzdata and /etc/passwd
# and nothing that runs a shell. 65532 is its nonroot user, given as a number so that
# Kubernetes' runAsNonRoot can check it.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/query /usr/local/bin/query
# The binary defaults to loopback, which nothing outside the container could reach.
ENV QUERY_ADDR=0.0.0.0:3001
USER 65532:65532
EXPOSE 3001
ENTRYPOINT ["/usr/local/bin/query"]
