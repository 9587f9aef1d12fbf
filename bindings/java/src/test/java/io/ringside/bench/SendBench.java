// SPDX-License-Identifier: MIT
package io.ringside.bench;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

import io.ringside.RingFullException;
import io.ringside.RingsideProducer;

/**
 * send() latency of RingsideProducer against KafkaProducer in one run, on
 * the same real cluster, healthy and with every broker stopped (SIGSTOP:
 * connections stay up, nothing answers). JMH's sample mode times each call
 * (p50, p99.9, max). Sends are paced at rate per second (a busy wait in a
 * per-call setup, which JMH leaves out of the timing), 100 B values with
 * an 8-byte key, acks=all. At the end of a trial each side prints what became of its
 * records: refused at once (ringside: a full ring, reported in the future),
 * failed after blocking (KafkaProducer: max.block.ms, here 2000 ms so a run
 * ends), failed later, delivered once the brokers are back, not reported
 * within 120 s of the end (a close() then fails their futures: for
 * ringside, the daemon still holds them), and records/s from the first
 * send to the last report. bench.sh starts the cluster and ringsided
 * and sets RS_BOOTSTRAP, RS_SOCKET and RS_CLUSTER_DIR.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class SendBench {
    @Param({"ringside", "kafka"})
    public String producer;

    @Param({"healthy", "down"})
    public String brokers;

    private static final byte[] KEY = "key-0001".getBytes();
    private static final byte[] VALUE = new byte[100];

    private Producer<byte[], byte[]> p;
    private String topic;
    private final AtomicLong delivered = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();
    private final AtomicLong refused = new AtomicLong();
    private final AtomicLong blocked = new AtomicLong();
    private long calls;
    private boolean inSend; // the benchmark thread is inside send()
    private long firstNs;
    private volatile long lastReportNs;
    private final Callback onReport = (md, e) -> {
        if (e == null) {
            delivered.incrementAndGet();
        } else if (e instanceof RingFullException) {
            refused.incrementAndGet();
        } else if (inSend && e instanceof org.apache.kafka.common.errors.TimeoutException) {
            blocked.incrementAndGet(); // KafkaProducer: max.block.ms passed, in send()
        } else {
            failed.incrementAndGet();
        }
        lastReportNs = System.nanoTime();
    };

    private static String env(String name) {
        String v = System.getenv(name);
        if (v == null) {
            throw new IllegalStateException(name + " is not set: run bench.sh");
        }
        return v;
    }

    private static void brokers(String what) throws Exception {
        for (int b = 1; b <= 3; b++) {
            Process pr = new ProcessBuilder("sh", env("RS_CLUSTER_SH"), what, env("RS_CLUSTER_DIR"),
                    Integer.toString(b)).inheritIO().start();
            if (pr.waitFor() != 0) {
                throw new IllegalStateException("cluster.sh " + what + " failed");
            }
        }
    }

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        topic = "jmh-" + producer + "-" + brokers;
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", env("RS_BOOTSTRAP")))) {
            admin.createTopics(List.of(new NewTopic(topic, 16, (short) 3)
                    .configs(Map.of("min.insync.replicas", "2")))).all().get(60, TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) {
                throw e;
            }
        }
        Properties props = new Properties();
        props.put("key.serializer", ByteArraySerializer.class.getName());
        props.put("value.serializer", ByteArraySerializer.class.getName());
        if (producer.equals("ringside")) {
            props.put("ringside.socket", env("RS_SOCKET"));
            props.put("client.id", "jmh");
            p = new RingsideProducer<>(props);
        } else {
            props.put("bootstrap.servers", env("RS_BOOTSTRAP"));
            props.put("acks", "all");
            props.put("linger.ms", "5");
            props.put("max.block.ms", "2000");
            p = new KafkaProducer<>(props);
        }
        // metadata first, on both sides
        p.send(new ProducerRecord<>(topic, KEY, VALUE)).get(60, TimeUnit.SECONDS);
        if (brokers.equals("down")) {
            brokers("pause");
        }
        firstNs = System.nanoTime();
    }

    /** Sends per second: paced below what the cluster takes, so that
     * healthy, neither side refuses or blocks (JMH does not time this). */
    @Param({"50000"})
    public int rate;

    private long dueNs;

    @Setup(Level.Invocation)
    public void pace() {
        long now = System.nanoTime();
        if (dueNs == 0 || now - dueNs > 1_000_000L) {
            dueNs = now; // late (a blocked call): no burst to catch up
        }
        while (System.nanoTime() < dueNs) {
            Thread.onSpinWait();
        }
        dueNs += 1_000_000_000L / rate;
    }

    @Benchmark
    public void send() {
        calls++;
        inSend = true;
        try {
            p.send(new ProducerRecord<>(topic, KEY, VALUE), onReport);
        } catch (org.apache.kafka.common.errors.TimeoutException e) {
            blocked.incrementAndGet(); // thrown rather than given to the callback
        } finally {
            inSend = false;
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        long sendEnd = System.nanoTime();
        if (brokers.equals("down")) {
            Thread.sleep(1000);
            brokers("resume");
        }
        long deadline = System.nanoTime() + 120_000_000_000L;
        while (delivered.get() + failed.get() + refused.get() + blocked.get() < calls
                && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        p.close(Duration.ofSeconds(30));
        long unreported = calls - delivered.get() - failed.get() - refused.get() - blocked.get();
        double secs = (Math.max(lastReportNs, sendEnd) - firstNs) / 1e9;
        System.out.printf("%n### %s, brokers %s: %d sends, refused at once %d, blocked then failed %d, "
                + "failed %d, delivered %d, not reported within 120 s of the end %d; %.0f records/s delivered, "
                + "first send to last report%n",
                producer, brokers, calls, refused.get(), blocked.get(), failed.get(), delivered.get(), unreported,
                delivered.get() / secs);
    }
}
