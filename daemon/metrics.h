/* SPDX-License-Identifier: MIT */
/*
 * metrics.h: the optional Prometheus endpoint (metrics_listen), served by
 * http.c on the daemon's own event loop: GET /metrics, /healthz (200 while
 * the loop answers) and /readyz (health.h: 503 when unready, and with
 * ?strict when degraded).
 */
#ifndef RS_METRICS_H
#define RS_METRICS_H

#include <stddef.h>

struct rs_server;
struct rs_metrics;

/* Listens on the config's metrics_listen. NULL with err set on failure. */
struct rs_metrics *rs_metrics_new(struct rs_server *srv, char *err,
				  size_t errlen);
void rs_metrics_free(struct rs_metrics *m);

/* The exposition text (Prometheus text format 0.0.4), malloc'd. */
int rs_metrics_render(struct rs_server *srv, char **out, size_t *len);

#endif
