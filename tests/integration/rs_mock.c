/* SPDX-License-Identifier: MIT */
/*
 * rs_mock: librdkafka's mock Kafka cluster in a process of its own, for
 * tests written in other languages (bindings/python): it outlives the
 * ringsided it serves, which a test may kill.
 *
 *   rs_mock BROKERS [TOPIC:PARTITIONS ...]
 *
 * Prints the bootstrap servers on a line of their own, then reads
 * commands from standard input, one per line: "down" and "up" (every
 * broker), "topic NAME PARTITIONS". It exits when its input ends.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int mock_topic(rd_kafka_mock_cluster_t *mc, const char *name,
		      int partitions)
{
	rd_kafka_resp_err_t err =
		rd_kafka_mock_topic_create(mc, name, partitions, 1);

	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, "rs_mock: topic %s: %s\n", name,
			rd_kafka_err2str(err));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_mock_cluster_t *mc;
	rd_kafka_t *rk;
	char errstr[256], line[512];
	int brokers = argc > 1 ? atoi(argv[1]) : 0;

	if (brokers < 1 || brokers > 16) {
		fprintf(stderr,
			"usage: rs_mock BROKERS [TOPIC:PARTITIONS ...]\n");
		return 2;
	}
	rd_kafka_conf_set(conf, "log_level", "2", errstr, sizeof(errstr));
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (rk == NULL) {
		fprintf(stderr, "rs_mock: %s\n", errstr);
		return 1;
	}
	mc = rd_kafka_mock_cluster_new(rk, brokers);
	if (mc == NULL) {
		fprintf(stderr, "rs_mock: cannot create the mock cluster\n");
		return 1;
	}
	for (int i = 2; i < argc; i++) {
		char *colon = strrchr(argv[i], ':');

		if (colon == NULL) {
			fprintf(stderr, "rs_mock: %s: not TOPIC:PARTITIONS\n",
				argv[i]);
			return 2;
		}
		*colon = '\0';
		if (mock_topic(mc, argv[i], atoi(colon + 1)) < 0)
			return 1;
	}
	printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin) != NULL) {
		char name[256];
		int n;

		if (strcmp(line, "down\n") == 0)
			(void)rd_kafka_mock_broker_set_down(mc, -1);
		else if (strcmp(line, "up\n") == 0)
			(void)rd_kafka_mock_broker_set_up(mc, -1);
		else if (sscanf(line, "topic %255s %d", name, &n) == 2)
			(void)mock_topic(mc, name, n);
		else
			fprintf(stderr, "rs_mock: unknown command: %s", line);
		printf("ok\n");
		fflush(stdout);
	}
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	return 0;
}
