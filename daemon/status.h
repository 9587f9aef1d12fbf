/* SPDX-License-Identifier: MIT */
/*
 * status.h: what ringsidectl status shows: the daemon, each client
 * session, each topic, the spool. As text for people or JSON for tools.
 */
#ifndef RS_STATUS_H
#define RS_STATUS_H

#include <stddef.h>
#include <stdint.h>

struct rs_server;

/* Writes the report into a malloc'd buffer (*out, *len): as JSON with
 * RINGSIDE_STATUS_F_JSON, only the health report with
 * RINGSIDE_STATUS_F_HEALTH (other flags are ignored). 0 or -1. */
int rs_status_render(struct rs_server *srv, uint32_t flags, char **out,
		     size_t *len);

#endif
