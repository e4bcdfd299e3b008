# syntax=docker/dockerfile:1
# The lakejob container: the binary only, on a distroless base, as a non-root user.
# Build: docker build -t lakejob .   Run: docker run --rm lakejob --help
# The image carries the Ballista engine, so the same image runs jobs and the optional cluster
# (terraform/modules/ballista).

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p lakejob --features ballista \
 && cp target/release/lakejob /lakejob \
 && strip /lakejob

# distroless/cc has glibc, libgcc and CA certificates (S3, Glue, Athena over TLS) and no shell.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /lakejob /usr/local/bin/lakejob
USER nonroot:nonroot
WORKDIR /tmp
ENTRYPOINT ["/usr/local/bin/lakejob"]
CMD ["--help"]
