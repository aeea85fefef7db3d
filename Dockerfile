# The Portico image: Debian's nginx 1.22.1 with our module, the controller,
# the DNS cache sidecar and the Vault CLI. Both containers of the pod (see
# charts/portico) use this one image with different commands.
#
# Not built in this project's CI: the build machines have no Docker engine.
FROM debian:bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
        build-essential pkg-config nginx nginx-dev libpcre2-dev zlib1g-dev \
        libc-ares-dev libjson-c-dev libcurl4-openssl-dev libssl-dev \
        libyaml-dev libmicrohttpd-dev libcmocka-dev dpkg-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make build/portico-controller build/portico-dnscache build/portico-vault \
        build/ngx_http_upstream_resolve_module.so

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
        nginx libc-ares2 libjson-c5 libcurl4 libssl3 libyaml-0-2 \
        libmicrohttpd12 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /usr/lib/nginx/modules /var/lib/portico
COPY --from=build /src/build/portico-controller /src/build/portico-dnscache \
     /src/build/portico-vault /usr/bin/
COPY --from=build /src/build/ngx_http_upstream_resolve_module.so /usr/lib/nginx/modules/
ENTRYPOINT ["/usr/bin/portico-controller"]
