# The Portico image: Debian's nginx 1.22.1 with our module, the controller,
# the DNS cache sidecar and the Vault CLI. Every container of the pod (see
# charts/portico) runs this one image with its own command, as uid 101.
#
# BASE_IMAGE is a Debian bookworm image pinned BY DIGEST, never a floating
# tag (two builds of one commit must start from the same bytes). The
# default is Docker Hub's debian:bookworm-slim multi-architecture index as
# Renovate recorded it on 2025-11-09 (MathiasPius/kronform pull request
# #323, "Update debian:bookworm-slim Docker digest to 8820086"; the full
# digest is the one pinned in many public Dockerfiles). It was not pulled
# here (this machine cannot reach Docker Hub): update it by resolving the
# tag yourself, e.g. `skopeo inspect --format '{{.Digest}}'
# docker://docker.io/library/debian:bookworm-slim`.
#
# `make image` (scripts/build-image) overrides it: it builds the base
# image from Debian's mirror with debootstrap and passes that one by digest
# (--build-arg BASE_IMAGE=localhost/portico-base@sha256:...). Any other
# builder may do the same with another bookworm image by digest.
ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim@sha256:88200866dfff7ea7f5cbcb6ec7c8a701889efe6fe859fe64d6990e4b07ea4171

FROM ${BASE_IMAGE} AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        build-essential pkg-config dpkg-dev nginx-dev libpcre2-dev \
        zlib1g-dev libc-ares-dev libjson-c-dev libcurl4-openssl-dev \
        libssl-dev libyaml-dev libmicrohttpd-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# .dockerignore lets only the sources in (no build/, no .git, no tests).
COPY . .
RUN make -j2 build/portico-controller build/portico-dnscache \
        build/portico-vault build/ngx_http_upstream_resolve_module.so

FROM ${BASE_IMAGE}
# nginx binds 80/443 as uid 101 through a file capability (as
# ingress-nginx does), set here in the layer that installs the binary.
# Non-root users get no ambient capabilities in Kubernetes, so this is the
# only way; the nginx container must allow privilege escalation for exec
# to honour it (see charts/portico). The capability is on a copy,
# /usr/lib/portico/nginx, which only the nginx container runs: exec of a
# binary with a file capability fails (EPERM) where the capability is not
# in the bounding set, as in the controller container (drop ALL), which
# runs Debian's plain /usr/sbin/nginx for `nginx -t`. libcap2-bin stays
# (iproute2, which nginx depends on, needs it; getcap shows the capability).
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        nginx libc-ares2 libjson-c5 libcurl4 libssl3 libyaml-0-2 libpcre2-8-0 \
        libmicrohttpd12 ca-certificates libcap2-bin \
    && install -d /usr/lib/portico \
    && cp -p /usr/sbin/nginx /usr/lib/portico/nginx \
    && setcap cap_net_bind_service=+ep /usr/lib/portico/nginx \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt \
              /var/log/dpkg.log /etc/nginx/sites-enabled/default \
    && groupadd --gid 101 portico \
    && useradd --uid 101 --gid 101 --home-dir /var/lib/portico \
               --no-create-home --shell /usr/sbin/nologin portico \
    && install -d -o 101 -g 101 -m 0755 /var/lib/portico
COPY --from=build /src/build/portico-controller /src/build/portico-dnscache \
     /src/build/portico-vault /usr/bin/
COPY --from=build /src/build/ngx_http_upstream_resolve_module.so \
     /usr/lib/nginx/modules/
# Everything written at run time lives under /var/lib/portico (nginx.conf,
# route table, pid, certificates, temp files): an emptyDir in the pod, so
# the root filesystem can be read-only. Logs go to stderr.
USER 101:101
WORKDIR /var/lib/portico
ENTRYPOINT ["/usr/bin/portico-controller"]
