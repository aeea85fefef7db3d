/*
 * fixtures.h - options shared by the controller's unit tests and its
 * fuzz target: the model and render options of a plain setup (class
 * portico, ports 80/443, state under /p). Each file that includes it gets
 * its own copy (static const).
 */
#ifndef PORTICO_TESTS_CONTROLLER_FIXTURES_H
#define PORTICO_TESTS_CONTROLLER_FIXTURES_H

#include "controller/model.h"
#include "controller/render.h"

static const struct model_opts TEST_MODEL_OPTS = {
    .controller_class = "portico.io/ingress-controller",
    .ingress_class = "portico",
    .cluster_domain = "cluster.local",
};

static const struct render_opts TEST_RENDER_OPTS = {
    .module_path = "/m.so",
    .resolver = "127.0.0.1:53",
    .resolve_ttl = "1s 30s",
    .http_port = 80,
    .https_port = 443,
    .status_port = 10246,
    .prefix = "/p",
    .default_crt = "/p/d.crt",
    .default_key = "/p/d.key",
    .certs_dir = "/c",
    .worker_processes = "1",
    .keepalive = 32,
    .error_log = "stderr",
};

#endif
