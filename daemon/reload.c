/* SPDX-License-Identifier: MIT */
/*
 * reload.c: SIGHUP. The new file is parsed and checked in full before
 * anything changes; a file with errors changes nothing. Then what can
 * change while records move does (topic acks, reports and backlogs, ACLs,
 * limits, log level, spool limits and fsync policy), and what cannot (the
 * socket, ring framing, spool location, librdkafka properties of running
 * producers and topics) keeps its old value, named in the log.
 *
 * No record or session is dropped: records already read keep the policy
 * they were read under; an acks change waits until none of the topic's
 * records is in librdkafka (flow.c); a session the new ACL refuses keeps
 * running, and is refused when it reconnects.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "flow.h"
#include "log.h"
#include "producer.h"
#include "server.h"
#include "session.h"
#include "spool.h"

static int reload_props_equal(const struct rs_props *a,
			      const struct rs_props *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i].key, b->v[i].key) != 0 ||
		    strcmp(a->v[i].value, b->v[i].value) != 0)
			return 0;
	return 1;
}

static int reload_str_equal(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	       (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void reload_keep_str(char **nv, char **ov, const char *key)
{
	char *tmp;

	if (reload_str_equal(*nv, *ov))
		return;
	log_warnx("reload: %s cannot change while running (restart "
		  "ringsided): keeping %s",
		  key, *ov != NULL ? *ov : "the default");
	tmp = *nv; /* swapped: the old config frees the new value */
	*nv = *ov;
	*ov = tmp;
}

#define KEEP_NUM(nc, oc, field)                                                \
	do {                                                                   \
		if ((nc)->field != (oc)->field) {                              \
			log_warnx("reload: " #field " cannot change while "    \
				  "running (restart ringsided): keeping %llu", \
				  (unsigned long long)(oc)->field);            \
			(nc)->field = (oc)->field;                             \
		}                                                              \
	} while (0)

/* The settings fixed at start-up keep their running values in nc. */
static void reload_keep_fixed(struct rs_config *nc, struct rs_config *oc)
{
	struct rs_props tmp;

	reload_keep_str(&nc->socket_path, &oc->socket_path, "socket_path");
	reload_keep_str(&nc->socket_group, &oc->socket_group, "socket_group");
	nc->socket_gid = oc->socket_gid;
	KEEP_NUM(nc, oc, socket_mode);
	/* a resumed ring's frames are checked against it */
	KEEP_NUM(nc, oc, max_record_bytes);
	reload_keep_str(&nc->spool_dir, &oc->spool_dir, "spool_dir");
	reload_keep_str(&nc->metrics_host, &oc->metrics_host, "metrics_listen");
	KEEP_NUM(nc, oc, metrics_port);
	KEEP_NUM(nc, oc, spool_segment_bytes);
	if (!reload_props_equal(&nc->kafka, &oc->kafka)) {
		/* a new producer would need the old one's records
		 * delivered or spooled first, for every topic at once */
		log_warnx("reload: [kafka] properties cannot change while "
			  "running (restart ringsided): keeping the running "
			  "ones");
		tmp = nc->kafka;
		nc->kafka = oc->kafka;
		oc->kafka = tmp;
	}
}

static const struct rs_props *
reload_section_props(const struct rs_topic_config *c)
{
	static const struct rs_props none;

	return c != NULL ? &c->props : &none;
}

/* One topic in use: its new policy. */
static void reload_retopic(struct rs_server *srv, const struct rs_config *oc,
			   struct rs_topic *t)
{
	struct rs_topic_policy np, op;
	int was_wa = t->write_ahead;

	if (rs_config_topic(srv->cfg, t->name, &np) < 0) {
		log_notice("reload: topic %s is no longer configured: sessions "
			   "using it get RINGSIDE_EDENIED for new records; "
			   "those already read are delivered",
			   t->name);
		return;
	}
	if (rs_config_topic(oc, t->name, &op) == 0 &&
	    (!reload_props_equal(reload_section_props(np.section),
				 reload_section_props(op.section)) ||
	     !reload_props_equal(reload_section_props(np.defaults),
				 reload_section_props(op.defaults))))
		log_warnx("reload: topic %s: librdkafka topic properties "
			  "cannot change while it is in use (restart "
			  "ringsided): keeping the running ones",
			  t->name);
	t->reports = np.reports;
	t->backlog_bytes = np.backlog_bytes;
	t->backlog_ms = np.backlog_ms;
	t->write_ahead = np.write_ahead;
	t->acks_next = np.acks != t->acks ? (int)np.acks : -1;
	if (t->acks_next >= 0 && t->inflight > 0)
		log_notice("reload: topic %s: acks %s -> %s once its %llu "
			   "records in librdkafka are delivered",
			   t->name, rs_acks_name(t->acks),
			   rs_acks_name(np.acks),
			   (unsigned long long)t->inflight);
	rs_flow_topic_changed(srv->flow, t, was_wa);
}

static void reload_recheck_sessions(struct rs_server *srv)
{
	struct rs_session *s;
	uint32_t refused = 0, denied = 0;

	TAILQ_FOREACH (s, &srv->sessions, entry) {
		int acl;

		denied += rs_session_recheck(s, &acl);
		if (acl) {
			char pid[24];

			refused++;
			log_notice("reload: session %llu (pid %s, uid %u) is "
				   "not allowed by the new allow_users / "
				   "allow_groups: it keeps running and is "
				   "refused when it reconnects",
				   (unsigned long long)s->id,
				   rs_session_pid_str(s, pid, sizeof(pid)),
				   (unsigned int)s->peer.uid);
		}
	}
	if (refused > 0 || denied > 0)
		log_notice("reload: %u sessions outside the new ACL, %u "
			   "session topics no longer allowed",
			   refused, denied);
}

int rs_server_reload(struct rs_server *srv)
{
	struct rs_config *oc = srv->cfg, *nc;
	struct rs_spool_config sc;
	char err[4096];

	if (rs_config_load(oc->path, &nc, err, sizeof(err)) < 0) {
		char *line, *save = NULL;

		/* one journal entry per "file:line: message" */
		for (line = strtok_r(err, "\n", &save); line != NULL;
		     line = strtok_r(NULL, "\n", &save))
			log_msg(RS_LOG_ERR, "reload: %s", line);
		log_msg(RS_LOG_ERR,
			"reload: %s has errors; the running configuration "
			"stays",
			oc->path);
		srv->reload_failures++;
		return -1;
	}
	reload_keep_fixed(nc, oc);
	if (rs_producer_reconfigure(srv->producer, nc, err, sizeof(err)) < 0) {
		log_msg(RS_LOG_ERR,
			"reload: %s; the running configuration stays", err);
		rs_config_free(nc);
		srv->reload_failures++;
		return -1;
	}
	srv->reloads++;
	srv->cfg = nc;
	log_setlevel(nc->log_level);
	for (size_t i = 0; i < rs_producer_ntopics(srv->producer); i++)
		reload_retopic(srv, oc, rs_producer_topic_at(srv->producer, i));
	reload_recheck_sessions(srv);
	rs_server_spool_config(nc, &sc);
	rs_spool_reconfigure(srv->spool, &sc);
	rs_config_free(oc);
	log_notice("reloaded %s: %zu topic sections, %u sessions", nc->path,
		   nc->ntopics, srv->nsessions);
	rs_server_kick(srv);
	return 0;
}
