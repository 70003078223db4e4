# Keysmith's container image: a static binary (no cgo) on distroless's static base, run as an
# unprivileged user on a read-only root filesystem, with its SQLite database on the /data volume.
#
#   docker build -t keysmith .
#   docker run --read-only -v keysmith-data:/data -p 127.0.0.1:8080:8080 -e KEYSMITH_BASE_URL=http://localhost:8080 keysmith
#
# Build from a git checkout: the .git folder is part of the build context so that the Go
# toolchain stamps the commit into the binary (`keysmith version`); only the binary reaches the
# final image. For PostgreSQL, set KEYSMITH_DATABASE_URL=postgres://… and the volume stays empty.
# docs/operations.md is the production guide.
#
# build_test.go builds and starts the binary with this file's ENV and `RUN go build` lines,
# and checks the FROM golang tag against go.mod: keep the build one line of plain words.

FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ENV CGO_ENABLED=0
RUN go build -trimpath -buildvcs=true -ldflags=-s -o /out/keysmith .
# The volume's mount point, owned by the user that runs Keysmith, so that a new named volume
# starts writable.
RUN mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/keysmith /usr/local/bin/keysmith
COPY --from=build --chown=65532:65532 /out/data /data
# Listen on every interface of the container; the database is a file on the volume. Links and
# cookies need the address people use, which 0.0.0.0 is not (Keysmith refuses it): the default,
# http://localhost:8080, suits a container on one's own machine, its port published on
# loopback (-p 127.0.0.1:8080:8080). Anywhere else, set KEYSMITH_BASE_URL to the console's
# https:// address, which also makes the cookies Secure.
ENV KEYSMITH_ADDR=0.0.0.0:8080 \
    KEYSMITH_BASE_URL=http://localhost:8080 \
    KEYSMITH_DATABASE_URL=/data/keysmith.db \
    KEYSMITH_LOG_FORMAT=json
VOLUME /data
EXPOSE 8080
# distroless's nonroot user, by number, so that Kubernetes' runAsNonRoot can check it.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/keysmith"]
CMD ["serve"]
