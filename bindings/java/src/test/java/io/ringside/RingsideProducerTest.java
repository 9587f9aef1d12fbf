// SPDX-License-Identifier: MIT
package io.ringside;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * RingsideProducer against the real ringsided and a real Apache Kafka
 * cluster (replication factor 3, min.insync.replicas 2), every record read
 * back with KafkaConsumer and compared with what was sent and with its
 * future's metadata.
 */
class RingsideProducerTest {
    static Harness.Cluster cluster;

    @BeforeAll
    static void startCluster() throws Exception {
        Assumptions.assumeTrue(System.getenv("RINGSIDED") != null,
                "RINGSIDED names no ringsided to test against (tests/java.sh sets it)");
        cluster = new Harness.Cluster();
    }

    @AfterAll
    static void stopCluster() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }

    // per-key order across retries needs librdkafka's idempotence (the
    // shipped ringside.ini enables it): without it a batch retried after a
    // transient error (a leader just elected) lands behind the next one
    private static final String ACKS_ALL = "enable.idempotence = true\n[topic:*]\nacks = all\nbacklog_ms = 500\n";

    @Test
    void futuresNameWhatKafkaHolds() throws Exception {
        cluster.create("java-real", 6);
        int total = 5000;
        List<Future<RecordMetadata>> futures = new ArrayList<>();
        AtomicInteger callbacks = new AtomicInteger();
        try (Harness.Daemon d = new Harness.Daemon(cluster.bootstraps, "", ACKS_ALL)) {
            try (Producer<String, String> p = new RingsideProducer<>(d.props("java-real"))) {
                for (int i = 0; i < total; i++) {
                    RecordHeaders h = new RecordHeaders();
                    h.add("seq", Integer.toString(i).getBytes(StandardCharsets.UTF_8));
                    Integer partition = i % 100 == 0 ? 5 : null;
                    Long ts = i % 10 == 0 ? 1_700_000_000_000L + i : null;
                    futures.add(p.send(new ProducerRecord<>("java-real", partition, ts, "k" + (i % 11),
                            "value-" + i, h), (md, e) -> {
                                if (e == null && md != null) {
                                    callbacks.incrementAndGet();
                                }
                            }));
                }
                p.flush();
                assertTrue(futures.stream().allMatch(Future::isDone), "flush() returned before the reports");
                assertEquals(total, callbacks.get());
            }
        }
        Map<String, ConsumerRecord<String, String>> got = Harness.byValue(cluster.consume("java-real"));
        assertEquals(total, got.size());
        Map<String, List<Integer>> perKey = new HashMap<>();
        for (int i = 0; i < total; i++) {
            RecordMetadata md = futures.get(i).get();
            ConsumerRecord<String, String> r = got.get("value-" + i);
            assertEquals(r.partition(), md.partition(), "partition of value-" + i);
            assertEquals(r.offset(), md.offset(), "offset of value-" + i);
            assertEquals(r.timestamp(), md.timestamp());
            assertEquals("java-real", md.topic());
            assertEquals("k" + (i % 11), r.key());
            assertArrayEquals(Integer.toString(i).getBytes(StandardCharsets.UTF_8),
                    r.headers().lastHeader("seq").value());
            if (i % 100 == 0) {
                assertEquals(5, r.partition());
            }
            if (i % 10 == 0) {
                assertEquals(1_700_000_000_000L + i, r.timestamp());
            }
        }
        List<ConsumerRecord<String, String>> all = new ArrayList<>(got.values());
        all.sort((a, b) -> a.partition() != b.partition() ? Integer.compare(a.partition(), b.partition())
                : Long.compare(a.offset(), b.offset()));
        for (ConsumerRecord<String, String> r : all) {
            int i = Integer.parseInt(r.value().substring(6));
            if (i % 100 != 0) {
                perKey.computeIfAbsent(r.key(), k -> new ArrayList<>()).add(i);
            }
        }
        for (List<Integer> s : perKey.values()) {
            List<Integer> sorted = new ArrayList<>(s);
            sorted.sort(null);
            assertEquals(sorted, s, "per-key order");
        }
    }

    @Test
    void fullRingFailsTheFutureAtOnceAndLosesNothing() throws Exception {
        cluster.create("java-full", 3);
        List<Future<RecordMetadata>> accepted = new ArrayList<>();
        Set<String> sent = new HashSet<>();
        ConcurrentLinkedQueue<Exception> inCallback = new ConcurrentLinkedQueue<>();
        try (Harness.Daemon d = new Harness.Daemon(cluster.bootstraps,
                "ring_size = 64K\nmax_record_bytes = 16K\n", ACKS_ALL)) {
            try (Producer<String, String> p = new RingsideProducer<>(d.props("java-full"))) {
                p.send(new ProducerRecord<>("java-full", "warm-up")).get(30, TimeUnit.SECONDS);
                // a daemon that reads nothing: the ring fills, and stays full
                assertEquals(0, d.signal("STOP"));
                int full = 0;
                long worst = 0;
                String pad = ".".repeat(500);
                for (int i = 0; full < 1000; i++) {
                    String v = "r" + i + pad;
                    long t0 = System.nanoTime();
                    Future<RecordMetadata> f = p.send(new ProducerRecord<>("java-full", v), (md, e) -> {
                        if (e != null) {
                            inCallback.add(e);
                        }
                    });
                    worst = Math.max(worst, System.nanoTime() - t0);
                    if (f.isDone()) {
                        ExecutionException e = assertThrows(ExecutionException.class, f::get);
                        assertInstanceOf(RingFullException.class, e.getCause());
                        full++;
                    } else {
                        accepted.add(f);
                        sent.add(v);
                    }
                    assertTrue(i < 100_000, "the ring never filled");
                }
                assertEquals(1000, inCallback.size(), "the callback of each refused send ran at once");
                assertTrue(worst < 50_000_000L, "a send took " + worst / 1000 + " us");
                assertEquals(0, d.signal("CONT"));
                p.flush();
                for (Future<RecordMetadata> f : accepted) {
                    assertTrue(f.get().offset() >= 0);
                }
            }
        }
        Set<String> got = new HashSet<>();
        for (ConsumerRecord<String, String> r : cluster.consume("java-full")) {
            got.add(r.value());
        }
        assertTrue(got.containsAll(sent), "records accepted and not in Kafka");
    }

    @Test
    void everyBrokerSilentSendNeverBlocks() throws Exception {
        cluster.create("java-silent", 6);
        int total = 30000;
        List<Future<RecordMetadata>> futures = new ArrayList<>();
        long worst = 0;
        try (Harness.Daemon d = new Harness.Daemon(cluster.bootstraps, "ring_size = 16M\n", ACKS_ALL);
                Producer<String, String> p = new RingsideProducer<>(d.props("java-silent"))) {
            p.send(new ProducerRecord<>("java-silent", "w", "warm-up")).get(30, TimeUnit.SECONDS);
            for (int b = 1; b <= 3; b++) {
                cluster.broker("pause", b);
            }
            try {
                for (int i = 0; i < total; i++) {
                    long t0 = System.nanoTime();
                    futures.add(p.send(new ProducerRecord<>("java-silent", "k" + (i % 16), Integer.toString(i))));
                    worst = Math.max(worst, System.nanoTime() - t0);
                    if (i % 500 == 0) {
                        Thread.sleep(10);
                    }
                }
                Thread.sleep(1000);
            } finally {
                for (int b = 1; b <= 3; b++) {
                    cluster.broker("resume", b);
                }
            }
            p.flush();
            for (Future<RecordMetadata> f : futures) {
                assertTrue(f.get().offset() >= 0);
            }
            assertTrue(java.nio.file.Files.readString(d.log).contains("spooling"), "nothing was spooled");
        }
        assertTrue(worst < 50_000_000L, "a send took " + worst / 1000 + " us");
        Map<String, ConsumerRecord<String, String>> got = Harness.byValue(cluster.consume("java-silent"));
        for (int i = 0; i < total; i++) {
            assertTrue(got.containsKey(Integer.toString(i)), "record " + i + " lost");
        }
    }

    @Test
    void daemonKilledMidStreamLosesNothing() throws Exception {
        cluster.create("java-kill9", 6);
        int total = 20000;
        try (Harness.Daemon d = new Harness.Daemon(cluster.bootstraps, "", ACKS_ALL);
                Producer<String, String> p = new RingsideProducer<>(d.props("java-kill9"))) {
            int refused = 0;
            for (int i = 0; i < total; i++) {
                if (i == total / 3) {
                    d.kill9();
                    Thread.sleep(300);
                    d.start(); // the session is handed to it by the poller
                }
                while (true) {
                    Future<RecordMetadata> f = p.send(new ProducerRecord<>("java-kill9", "k" + (i % 16),
                            Integer.toString(i)));
                    if (!f.isDone() || !isFull(f)) {
                        break;
                    }
                    refused++;
                    Thread.sleep(1);
                }
                if (i % 200 == 0) {
                    Thread.sleep(2);
                }
            }
            p.close(Duration.ofSeconds(60));
            System.out.println("kill9: " + refused + " sends found the ring full and were sent again");
        }
        Map<String, ConsumerRecord<String, String>> got = Harness.byValue(cluster.consume("java-kill9"));
        List<Integer> missing = new ArrayList<>();
        for (int i = 0; i < total; i++) {
            if (!got.containsKey(Integer.toString(i))) {
                missing.add(i);
            }
        }
        assertTrue(missing.isEmpty(), missing.size() + " records lost, e.g. " + missing.subList(0,
                Math.min(5, missing.size())));
    }

    private static boolean isFull(Future<RecordMetadata> f) {
        try {
            f.get();
            return false;
        } catch (ExecutionException e) {
            return e.getCause() instanceof RingFullException;
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void whatASidecarCannotDoSaysSo() throws Exception {
        try (Harness.Daemon d = new Harness.Daemon(cluster.bootstraps, "", ACKS_ALL);
                Producer<String, String> p = new RingsideProducer<>(d.props("java-unsupported"))) {
            UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class,
                    p::initTransactions);
            assertTrue(e.getMessage().contains("transactions are not supported"), e.getMessage());
            assertThrows(UnsupportedOperationException.class, p::beginTransaction);
            assertThrows(UnsupportedOperationException.class, p::commitTransaction);
            assertThrows(UnsupportedOperationException.class, p::abortTransaction);
            assertThrows(UnsupportedOperationException.class, () -> p.partitionsFor("x"));
            assertTrue(p.metrics().keySet().stream().anyMatch(m -> m.name().equals("ring-size-bytes")));
        }
        java.util.Properties bad = new java.util.Properties();
        bad.put("ringside.socket", "/nonexistent/rs.sock");
        bad.put("key.serializer", "org.apache.kafka.common.serialization.StringSerializer");
        bad.put("value.serializer", "org.apache.kafka.common.serialization.StringSerializer");
        bad.put("ringside.timeout.ms", "500");
        assertThrows(RingsideException.class, () -> new RingsideProducer<String, String>(bad));
    }
}
