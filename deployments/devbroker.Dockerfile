# syntax=docker/dockerfile:1
#
# The embedded development broker (kfake) as a static binary on a distroless base, running as
# a non-root user, for trying the images without Kafka.
# The go.work workspace replaces the libs with ../../libs/*, so the context is the whole
# repository. From the repository root:
#
#   docker build -f deployments/devbroker.Dockerfile -t toptraffic/devbroker .
#
#   docker run --name devbroker --network tt -e DEVBROKER_ADDR=devbroker:9092 \
#       toptraffic/devbroker
#
# For local runs only; the compose deployment runs Apache Kafka instead.
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
        -o /out/devbroker ./services/devbroker/cmd/devbroker

# Stage 3: the binary alone. static-debian12 brings CA certificates, tzdata and /etc/passwd
# and nothing that runs a shell. 65532 is its nonroot user, given as a number so that
# Kubernetes' runAsNonRoot can check it.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/devbroker /usr/local/bin/devbroker
# The broker binds the host of DEVBROKER_ADDR and tells clients the same address, so it has
# to be a name the other containers resolve to this one: set it to the container name, for
# example DEVBROKER_ADDR=devbroker:9092. 0.0.0.0 would be advertised as is and unusable.
# The data dir is relative to the working directory, the nonroot user's home.
WORKDIR /home/nonroot
USER 65532:65532
EXPOSE 9092
ENTRYPOINT ["/usr/local/bin/devbroker"]
