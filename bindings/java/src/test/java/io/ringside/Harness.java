// SPDX-License-Identifier: MIT
package io.ringside;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * The real parts for the tests: a real Apache Kafka cluster
 * (tests/kafka/cluster.sh: a KRaft controller and three brokers), the real
 * ringsided ($RINGSIDED) in front of it, and kafka-clients' KafkaConsumer
 * to read back.
 */
final class Harness {
    static final Path TREE = Path.of(System.getProperty("user.dir")).resolve("../..").normalize();
    static final Path CLUSTER_SH = TREE.resolve("tests/kafka/cluster.sh");

    private Harness() {
    }

    static int run(String... argv) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(argv).inheritIO().start();
        if (!p.waitFor(300, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException(String.join(" ", argv) + ": timed out");
        }
        return p.exitValue();
    }

    /** The real cluster, one per test class. */
    static final class Cluster implements AutoCloseable {
        final Path dir;
        final String bootstraps;

        Cluster() throws IOException, InterruptedException {
            dir = Files.createTempDirectory("rs-java-kafka-");
            long me = ProcessHandle.current().pid();
            if (run("sh", CLUSTER_SH.toString(), "start", dir.toString(), Long.toString(me)) != 0) {
                throw new IOException("cluster.sh start failed");
            }
            bootstraps = Files.readString(dir.resolve("bootstrap")).trim();
        }

        void create(String topic, int partitions) throws Exception {
            Map<String, Object> c = Map.of("bootstrap.servers", bootstraps);
            try (Admin admin = Admin.create(c)) {
                long deadline = System.nanoTime() + 60_000_000_000L;
                for (int tries = 1;; tries++) {
                    try {
                        admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 3)
                                .configs(Map.of("min.insync.replicas", "2")))).all().get(60, TimeUnit.SECONDS);
                        break;
                    } catch (ExecutionException e) {
                        // a cluster just started may not serve metadata yet
                        if (e.getCause() instanceof TopicExistsException) {
                            break;
                        }
                        if (!(e.getCause() instanceof RetriableException) || System.nanoTime() > deadline) {
                            throw e;
                        }
                        Thread.sleep(Math.min(1000, 100L * tries));
                    }
                }
                while (System.nanoTime() < deadline) {
                    try {
                        var d = admin.describeTopics(List.of(topic)).allTopicNames().get(10, TimeUnit.SECONDS);
                        if (d.get(topic).partitions().stream().allMatch(p -> p.leader() != null)) {
                            return;
                        }
                    } catch (ExecutionException e) {
                        // not in the metadata of every broker yet
                        if (!(e.getCause() instanceof RetriableException)) {
                            throw e;
                        }
                    }
                    Thread.sleep(200);
                }
            }
            throw new IllegalStateException(topic + ": no leader for every partition");
        }

        void broker(String command, int n) throws IOException, InterruptedException {
            if (run("sh", CLUSTER_SH.toString(), command, dir.toString(), Integer.toString(n)) != 0) {
                throw new IOException("cluster.sh " + command + " " + n + " failed");
            }
        }

        /** Every record of topic, from each partition's start to its end. */
        List<ConsumerRecord<String, String>> consume(String topic) {
            Properties p = new Properties();
            p.put("bootstrap.servers", bootstraps);
            p.put("key.deserializer", StringDeserializer.class.getName());
            p.put("value.deserializer", StringDeserializer.class.getName());
            p.put("enable.auto.commit", "false");
            p.put("isolation.level", "read_uncommitted");
            List<ConsumerRecord<String, String>> out = new ArrayList<>();
            try (KafkaConsumer<String, String> c = new KafkaConsumer<>(p)) {
                List<TopicPartition> tps = new ArrayList<>();
                for (PartitionInfo pi : c.partitionsFor(topic, Duration.ofSeconds(30))) {
                    tps.add(new TopicPartition(topic, pi.partition()));
                }
                c.assign(tps);
                c.seekToBeginning(tps);
                Map<TopicPartition, Long> end = c.endOffsets(tps, Duration.ofSeconds(30));
                long deadline = System.nanoTime() + 120_000_000_000L;
                while (System.nanoTime() < deadline) {
                    boolean done = true;
                    for (TopicPartition tp : tps) {
                        if (c.position(tp, Duration.ofSeconds(30)) < end.get(tp)) {
                            done = false;
                        }
                    }
                    if (done) {
                        break;
                    }
                    for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(500))) {
                        out.add(r);
                    }
                }
            }
            return out;
        }

        @Override
        public void close() throws IOException, InterruptedException {
            run("sh", CLUSTER_SH.toString(), "stop", dir.toString());
        }
    }

    /** The real ringsided, its config written for the test. */
    static final class Daemon implements AutoCloseable {
        final Path dir;
        final String socket;
        final Path log;
        private final Path conf;
        private Process proc;

        Daemon(String bootstraps, String ringsideKeys, String sections) throws Exception {
            dir = Files.createTempDirectory("rs-java-d-");
            socket = dir.resolve("rs.sock").toString();
            conf = dir.resolve("ringside.ini");
            log = dir.resolve("ringsided.log");
            Files.writeString(conf, "[ringside]\nsocket = " + socket + "\nspool_dir = " + dir
                    + "/spool\nlog_level = debug\n" + ringsideKeys + "\n[kafka]\nbootstrap.servers = "
                    + bootstraps + "\n" + sections + "\n");
            start();
        }

        void start() throws Exception {
            String bin = System.getenv("RINGSIDED"); // the tests run only with it set
            long from = Files.exists(log) ? Files.size(log) : 0;
            proc = new ProcessBuilder(bin, "--config", conf.toString()).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
            long deadline = System.nanoTime() + 30_000_000_000L;
            while (true) {
                String s = Files.readString(log);
                if (s.substring((int) Math.min(from, s.length())).contains("notice: listening on")) {
                    return;
                }
                if (!proc.isAlive() || System.nanoTime() > deadline) {
                    throw new IllegalStateException("ringsided did not start:\n" + s);
                }
                Thread.sleep(20);
            }
        }

        int signal(String sig) throws Exception {
            return run("kill", "-" + sig, Long.toString(proc.pid()));
        }

        int kill9() throws Exception {
            proc.destroyForcibly();
            return proc.waitFor();
        }

        Properties props(String name) {
            Properties p = new Properties();
            p.put("ringside.socket", socket);
            p.put("client.id", name);
            p.put("key.serializer", "org.apache.kafka.common.serialization.StringSerializer");
            p.put("value.serializer", "org.apache.kafka.common.serialization.StringSerializer");
            return p;
        }

        @Override
        public void close() throws Exception {
            if (proc != null && proc.isAlive()) {
                proc.destroy(); // SIGTERM
                if (!proc.waitFor(60, TimeUnit.SECONDS)) {
                    proc.destroyForcibly();
                }
            }
        }
    }

    static Map<String, ConsumerRecord<String, String>> byValue(List<ConsumerRecord<String, String>> got) {
        Map<String, ConsumerRecord<String, String>> m = new HashMap<>();
        for (ConsumerRecord<String, String> r : got) {
            m.putIfAbsent(r.value(), r);
        }
        return Collections.unmodifiableMap(m);
    }
}
