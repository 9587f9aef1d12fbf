/* SPDX-License-Identifier: MIT */
/*
 * main.c: ringsided's start-up, the event loop and signals. Everything else
 * lives in server.c and below; this is the only place, with fatal(), that
 * exits.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <librdkafka/rdkafka.h>

#include "check.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "record.h"
#include "server.h"
#include "status.h"

#ifndef RS_CONFIG_PATH
#define RS_CONFIG_PATH "/etc/ringside/ringside.ini"
#endif

static void main_usage(FILE *f)
{
	fprintf(f,
		"usage: ringsided [--config FILE] [--check] [--version] "
		"[--help]\n"
		"  -c, --config FILE  read FILE (default %s)\n"
		"  -n, --check        check the configuration, and what "
		"starting needs, and exit\n"
		"  -V, --version      print the version and exit\n"
		"  -h, --help         print this help and exit\n",
		RS_CONFIG_PATH);
}

/* libevent's own messages (it logs a line per failed accept, say: a flood
 * wrote a million lines) go through the daemon's log, rate limited. */
static void main_on_libevent_log(int severity, const char *msg)
{
	static struct rs_log_rl rl;

	log_rl(&rl,
	       severity >= EVENT_LOG_ERR    ? RS_LOG_ERR
	       : severity >= EVENT_LOG_WARN ? RS_LOG_WARN
					    : RS_LOG_DEBUG,
	       "libevent: %s", msg);
}

static void main_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct rs_server *srv = arg;

	(void)what;
	if (sig == SIGHUP) {
		struct timespec ts;

		if (srv->stopping)
			return;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		log_notice("SIGHUP: reloading %s", srv->cfg->path);
		rs_notify("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
			  (unsigned long long)ts.tv_sec * 1000000ULL +
				  (unsigned long long)ts.tv_nsec / 1000);
		if (rs_server_reload(srv) == 0)
			rs_notify("READY=1\nSTATUS=listening on %s; config "
				  "reloaded",
				  srv->cfg->socket_path);
		else
			rs_notify("READY=1\nSTATUS=listening on %s; reload "
				  "failed, previous config in force",
				  srv->cfg->socket_path);
		return;
	}
	log_notice("%s received", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	rs_notify("STOPPING=1\nSTATUS=stopping: delivering what is held");
	rs_server_stop(srv);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'n' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = RS_CONFIG_PATH;
	struct event *sigev[3];
	static const int sigs[3] = { SIGTERM, SIGINT, SIGHUP };
	struct event_config *evcfg;
	struct event_base *base;
	struct rs_config *cfg;
	struct rs_server srv;
	struct rs_metrics *metrics = NULL;
	char err[4096];
	int ch, check = 0;

	while ((ch = getopt_long(argc, argv, "c:nVh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'n':
			check = 1;
			break;
		case 'V':
			printf("ringsided %s (librdkafka %s)\n",
			       PACKAGE_VERSION, rd_kafka_version_str());
			return 0;
		case 'h':
			main_usage(stdout);
			return 0;
		default:
			main_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		main_usage(stderr);
		return 2;
	}
	log_init(RS_LOG_INFO);
	if (rs_config_load(path, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (check) {
		int bad;

		log_setlevel(RS_LOG_WARN); /* the producers' start-up lines */
		bad = rs_check_start(cfg, stderr);
		rs_config_free(cfg);
		if (bad > 0) {
			fprintf(stderr, "%s: %d problem%s\n", path, bad,
				bad > 1 ? "s" : "");
			return 1;
		}
		printf("%s: OK\n", path);
		return 0;
	}
	log_setlevel(cfg->log_level);
	signal(SIGPIPE, SIG_IGN);
	event_set_log_callback(main_on_libevent_log);

	evcfg = event_config_new();
	/* sub-millisecond drain intervals need timerfd, not epoll's ms */
	event_config_set_flag(evcfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	base = event_base_new_with_config(evcfg);
	event_config_free(evcfg);
	if (base == NULL)
		fatalx("libevent: cannot create the event base");
	/* the metrics endpoint reads the server; main owns both */
	if (rs_server_start(&srv, base, cfg, err, sizeof(err)) < 0 ||
	    (srv.cfg->metrics_host != NULL &&
	     (metrics = rs_metrics_new(&srv, err, sizeof(err))) == NULL)) {
		log_msg(RS_LOG_ERR, "%s", err);
		rs_server_free(&srv); /* and cfg */
		event_base_free(base);
		return 1;
	}
	srv.session_env.render_status = rs_status_render;
	for (int i = 0; i < 3; i++) {
		sigev[i] = evsignal_new(base, sigs[i], main_on_signal, &srv);
		if (sigev[i] == NULL || event_add(sigev[i], NULL) < 0)
			fatalx("libevent: cannot watch signals");
	}
	rs_notify_init(base);
	log_notice("ringsided %s started (pid %d)", PACKAGE_VERSION,
		   (int)getpid());
	rs_notify("READY=1\nSTATUS=listening on %s\nMAINPID=%d",
		  srv.cfg->socket_path, (int)getpid());
	event_base_dispatch(base);
	/* stopped: a second SIGTERM during teardown must not turn a clean
	 * exit into death by signal */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	rs_notify_free();
	for (int i = 0; i < 3; i++)
		event_free(sigev[i]);
	rs_metrics_free(metrics);
	rs_server_free(&srv); /* and the config in force */
	rs_record_cache_drop();
	event_base_free(base);
	return 0;
}
