// SPDX-License-Identifier: MIT
package io.ringside;

import java.time.Duration;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.function.Supplier;

import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.errors.InterruptException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.metrics.KafkaMetric;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.utils.Utils;

/**
 * A {@link Producer} whose {@code send()} never blocks: records go into a
 * session's shared-memory ring, and the ringside daemon ({@code ringsided})
 * produces them to Kafka under the operator's per-topic policy, spilling to
 * its disk spool while Kafka is away. Swap {@code new KafkaProducer<>(props)}
 * for {@code new RingsideProducer<>(props)}: serializers come from the same
 * properties ({@code key.serializer}, {@code value.serializer}, or instances
 * given to the constructor).
 *
 * <p>Properties read: {@code key.serializer}, {@code value.serializer},
 * {@code client.id} (the session's name in the daemon's logs),
 * {@code ringside.socket} (else {@code $RINGSIDE_SOCKET}, else the default
 * socket), {@code ringside.timeout.ms} (opening the session and a topic's
 * first use, default 5000) and {@code ringside.max.pending} (futures waiting
 * for a report at once, default 1048576). The Kafka connection's settings
 * ({@code bootstrap.servers}, {@code acks}, {@code linger.ms}, security,
 * ...) are the daemon's, in ringside.ini, and are ignored here; interceptors
 * are not called.
 *
 * <p>{@code send()} fails the returned future at once (and calls the
 * callback, on the calling thread, as KafkaProducer does for errors found
 * before sending) with {@link RingFullException} when the ring is full. A
 * topic's first use is one round trip to the local daemon. One poller thread
 * per producer completes futures and runs callbacks (keep them short, as
 * with KafkaProducer's I/O thread). Thread-safe.
 */
public class RingsideProducer<K, V> implements Producer<K, V> {
    private static final AtomicInteger INSTANCES = new AtomicInteger();

    private final Serializer<K> keySerializer;
    private final Serializer<V> valueSerializer;
    private final int timeoutMs;
    private final int maxPending;
    private final long handle;
    private final Map<String, Long> topics = new ConcurrentHashMap<>();
    /*
     * Records waiting for their final report, by opaque (1, 2, ...; one
     * slot each, slot = opaque & mask): a Pending, DONE once reported or
     * refused, null when free. low is the oldest opaque not yet DONE; the
     * slots from low to next - 1 are in use, so at most slots.length()
     * records wait (ringside.max.pending, rounded up to a power of two).
     * A send claims next with a CAS, stores its Pending (release) before
     * the record reaches the ring, and the poller reads it (acquire) from
     * the report; advance() moves low over DONE slots.
     */
    private static final Object DONE = new Object();
    private final AtomicReferenceArray<Object> slots;
    private final int mask;
    private final AtomicLong next = new AtomicLong(1);
    private volatile long low = 1;
    private final Object lowLock = new Object();
    private final AtomicInteger active = new AtomicInteger();
    private final AtomicLong refused = new AtomicLong();
    private final AtomicLong refusedClaimed = new AtomicLong(); // of them, after taking an opaque
    private final AtomicLong failed = new AtomicLong();
    private final Object flushed = new Object();
    private final Thread poller;
    private volatile boolean closing;
    private volatile boolean closed;
    private volatile Throwable pollerError;

    /** The record's future and callback, until its final report. */
    private static final class Pending {
        final long opaque;
        final RecordFuture future;
        final Callback callback;
        final String topic;
        final int keySize;
        final int valueSize;

        Pending(long opaque, RecordFuture future, Callback callback, String topic, int keySize,
                int valueSize) {
            this.opaque = opaque;
            this.future = future;
            this.callback = callback;
            this.topic = topic;
            this.keySize = keySize;
            this.valueSize = valueSize;
        }
    }

    public RingsideProducer(Properties properties) {
        this(propsToMap(properties), null, null);
    }

    public RingsideProducer(Properties properties, Serializer<K> keySerializer,
            Serializer<V> valueSerializer) {
        this(propsToMap(properties), keySerializer, valueSerializer);
    }

    public RingsideProducer(Map<String, Object> configs) {
        this(configs, null, null);
    }

    public RingsideProducer(Map<String, Object> configs, Serializer<K> keySerializer,
            Serializer<V> valueSerializer) {
        this.keySerializer = keySerializer != null ? keySerializer
                : serializer(configs, "key.serializer", true);
        this.valueSerializer = valueSerializer != null ? valueSerializer
                : serializer(configs, "value.serializer", false);
        this.timeoutMs = intConfig(configs, "ringside.timeout.ms", 5000);
        this.maxPending = intConfig(configs, "ringside.max.pending", 1 << 20);
        int n = Integer.highestOneBit(Math.min(maxPending, 1 << 30));
        n = n < maxPending ? n << 1 : n;
        this.slots = new AtomicReferenceArray<>(n);
        this.mask = n - 1;
        Object sock = configs.get("ringside.socket");
        Object name = configs.get("client.id");
        this.handle = Native.open(sock != null ? sock.toString() : null,
                name != null ? name.toString() : null, timeoutMs);
        this.poller = new Thread(this::pollLoop,
                "ringside-producer-poller-" + INSTANCES.incrementAndGet());
        this.poller.setDaemon(true);
        this.poller.start();
    }

    private static Map<String, Object> propsToMap(Properties properties) {
        Map<String, Object> m = new HashMap<>();
        for (String k : properties.stringPropertyNames()) {
            m.put(k, properties.getProperty(k));
        }
        for (Map.Entry<Object, Object> e : properties.entrySet()) {
            m.put(e.getKey().toString(), e.getValue()); // Class values too
        }
        return m;
    }

    private static int intConfig(Map<String, Object> configs, String key, int dflt) {
        Object v = configs.get(key);
        if (v == null) {
            return dflt;
        }
        try {
            int n = v instanceof Number ? ((Number) v).intValue() : Integer.parseInt(v.toString().trim());
            if (n <= 0) {
                throw new NumberFormatException();
            }
            return n;
        } catch (NumberFormatException e) {
            throw new org.apache.kafka.common.config.ConfigException(key, v, "must be a positive integer");
        }
    }

    @SuppressWarnings("unchecked")
    private static <T> Serializer<T> serializer(Map<String, Object> configs, String key, boolean isKey) {
        Object v = configs.get(key);
        if (v == null) {
            throw new org.apache.kafka.common.config.ConfigException(key, null,
                    "missing: name a Serializer class, or give one to the constructor");
        }
        Serializer<T> s;
        try {
            if (v instanceof Serializer) {
                s = (Serializer<T>) v;
            } else if (v instanceof Class) {
                s = Utils.newInstance((Class<?>) v, Serializer.class);
            } else {
                s = Utils.newInstance(v.toString().trim(), Serializer.class);
            }
        } catch (ClassNotFoundException e) {
            throw new org.apache.kafka.common.config.ConfigException(key, v, "class not found");
        }
        s.configure(configs, isKey);
        return s;
    }

    // ------------------------------------------------------------ send

    @Override
    public Future<RecordMetadata> send(ProducerRecord<K, V> record) {
        return send(record, null);
    }

    @Override
    public Future<RecordMetadata> send(ProducerRecord<K, V> record, Callback callback) {
        String topic = record.topic();
        RecordFuture future = new RecordFuture();
        byte[] key;
        byte[] value;
        try {
            key = keySerializer.serialize(topic, record.headers(), record.key());
            value = valueSerializer.serialize(topic, record.headers(), record.value());
        } catch (RuntimeException e) {
            throw new org.apache.kafka.common.errors.SerializationException(
                    "cannot serialize a record for " + topic, e);
        }
        Headers headers = record.headers();
        Header[] hs = headers.toArray();
        String[] names = null;
        byte[][] values = null;
        if (hs.length > 0) {
            names = new String[hs.length];
            values = new byte[hs.length][];
            for (int i = 0; i < hs.length; i++) {
                names[i] = hs[i].key();
                values[i] = hs[i].value();
            }
        }
        int partition = record.partition() != null ? record.partition() : -1;
        long timestamp = record.timestamp() != null ? record.timestamp() : 0L;
        long opaque;
        do {
            opaque = next.get();
            if (opaque - low > mask) {
                return refuse(future, callback, new RingFullException(
                        "ringside: " + slots.length() + " records are waiting for their reports"
                                + " (ringside.max.pending); not sent"), false);
            }
        } while (!next.compareAndSet(opaque, opaque + 1));
        int slot = (int) (opaque & mask);
        slots.setRelease(slot, new Pending(opaque, future, callback, topic,
                key != null ? key.length : -1, value != null ? value.length : -1));
        int rc;
        active.incrementAndGet();
        try {
            if (closing) {
                slots.setRelease(slot, DONE);
                throw new IllegalStateException("Cannot perform operation after producer has been closed");
            }
            long t = topicHandle(topic);
            rc = Native.send(handle, t, key, value, names, values, partition, timestamp, opaque);
        } catch (RuntimeException e) {
            slots.setRelease(slot, DONE);
            advance();
            if (e instanceof IllegalStateException) {
                throw e;
            }
            return refuse(future, callback, e instanceof KafkaException ? (KafkaException) e
                    : new KafkaException(e), true);
        } finally {
            active.decrementAndGet();
        }
        if (rc == 0) {
            return future;
        }
        slots.setRelease(slot, DONE);
        advance();
        KafkaException e;
        if (rc == Native.EFULL) {
            e = new RingFullException("ringside: the session's ring is full; not sent");
        } else if (rc == Native.ETOOBIG) {
            e = new RecordTooLargeException("ringside: " + Native.strerror(rc));
        } else {
            e = new RingsideException(rc, "ringside: " + Native.strerror(rc));
        }
        return refuse(future, callback, e, true);
    }

    private Future<RecordMetadata> refuse(RecordFuture future, Callback callback, Exception e,
            boolean claimed) {
        refused.incrementAndGet();
        if (claimed) {
            refusedClaimed.incrementAndGet(); // it took an opaque
        }
        future.fail(e);
        if (callback != null) {
            callback.onCompletion(null, e);
        }
        return future;
    }

    private long topicHandle(String topic) {
        Long t = topics.get(topic);
        if (t != null) {
            return t;
        }
        synchronized (topics) {
            t = topics.get(topic);
            if (t == null) {
                t = Native.topic(handle, topic);
                topics.put(topic, t);
            }
            return t;
        }
    }

    // ---------------------------------------------------------- reports

    private void pollLoop() {
        try {
            while (!closed) {
                long[] w = Native.poll(handle);
                if (w == null) {
                    if (closing && low >= next.get()) {
                        break;
                    }
                    Native.await(handle, 50);
                    continue;
                }
                for (int i = 0; i < w.length; i += Native.REPORT_WORDS) {
                    report(w, i);
                }
            }
        } catch (Throwable t) {
            pollerError = t;
        } finally {
            synchronized (flushed) {
                flushed.notifyAll();
            }
        }
    }

    private void report(long[] w, int i) {
        int status = (int) w[i + 1];
        if (w[i + 4] == Native.STAGE_SPOOLED) {
            return; // not final: the final report follows
        }
        int slot = (int) (w[i] & mask);
        Object x = slots.getAcquire(slot);
        if (!(x instanceof Pending) || ((Pending) x).opaque != w[i]) {
            return; // not this producer's, or reported already
        }
        Pending p = (Pending) x;
        slots.setRelease(slot, DONE);
        if (status == 0) {
            RecordMetadata md = new RecordMetadata(new TopicPartition(p.topic, (int) w[i + 5]),
                    w[i + 6], 0, w[i + 7], p.keySize, p.valueSize);
            p.future.complete(md);
            callback(p, md, null);
        } else {
            failed.incrementAndGet();
            Exception e = reportError(status, (int) w[i + 2], p.topic);
            p.future.fail(e);
            callback(p, null, e);
        }
        if (w[i] == low) {
            advance();
        }
    }

    /** Moves low over the DONE slots; wakes flush() when it moved. */
    private void advance() {
        boolean moved = false;
        synchronized (lowLock) {
            long l = low;
            long end = next.get();
            while (l < end && slots.getAcquire((int) (l & mask)) == DONE) {
                slots.setRelease((int) (l & mask), null);
                l++;
                moved = true;
            }
            low = l;
        }
        if (moved) {
            synchronized (flushed) {
                flushed.notifyAll();
            }
        }
    }

    private static void callback(Pending p, RecordMetadata md, Exception e) {
        if (p.callback == null) {
            return;
        }
        try {
            p.callback.onCompletion(md, e);
        } catch (RuntimeException ignored) {
            // as KafkaProducer: a callback's exception is not the producer's
        }
    }

    private static Exception reportError(int status, int kafkaError, String topic) {
        String msg = "ringside: " + Native.strerror(status)
                + (kafkaError != 0 ? " (Kafka error " + kafkaError + ")" : "") + " for " + topic;
        switch (status) {
            case Native.EMSG_TIMEOUT:
                return new TimeoutException(msg);
            case Native.ERECORD_TOO_LARGE:
                return new RecordTooLargeException(msg);
            case Native.EUNKNOWN_TOPIC:
                return new UnknownTopicOrPartitionException(msg);
            case Native.EAUTH:
                return new TopicAuthorizationException(msg);
            default:
                return new RingsideException(status, msg);
        }
    }

    // ------------------------------------------------------------ flush

    /**
     * Waits until every record sent before the call has its final report
     * (delivered or failed), as KafkaProducer's flush() does; a record the
     * daemon spooled while Kafka is away is waited for until Kafka has it.
     */
    @Override
    public void flush() {
        if (!waitReported(next.get() - 1, Long.MAX_VALUE)) {
            throw new KafkaException("ringside: the report poller stopped", pollerError);
        }
    }

    /** true when every record up to last has reported before the deadline (nanoTime). */
    private boolean waitReported(long last, long deadline) {
        synchronized (flushed) {
            while (low <= last) {
                if (!poller.isAlive()) {
                    return false;
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                try {
                    flushed.wait(Math.max(1, Math.min(left / 1_000_000, 100)));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new InterruptException(e);
                }
            }
            return true;
        }
    }

    // ------------------------------------------------------------ close

    @Override
    public void close() {
        close(Duration.ofMillis(Long.MAX_VALUE));
    }

    /**
     * Waits up to timeout for the reports of records sent, then ends the
     * session. The daemon still delivers what it accepted; futures still
     * waiting are failed with a {@link RingsideException} saying so.
     */
    @Override
    public void close(Duration timeout) {
        if (closed) {
            return;
        }
        long ms = timeout.toMillis();
        long deadline = ms >= Long.MAX_VALUE / 2_000_000 ? Long.MAX_VALUE
                : System.nanoTime() + ms * 1_000_000;
        closing = true;
        waitReported(next.get() - 1, deadline);
        while (active.get() > 0) {
            Thread.onSpinWait();
        }
        closed = true;
        try {
            poller.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        Native.close(handle);
        RingsideException gone = new RingsideException(
                "ringside: the producer was closed before this record's report came;"
                        + " the daemon still delivers the records it accepted");
        for (long o = low, end = next.get(); o < end; o++) {
            Object x = slots.getAndSet((int) (o & mask), null);
            if (x instanceof Pending) {
                ((Pending) x).future.fail(gone);
                callback((Pending) x, null, gone);
            }
        }
        Utils.closeQuietly(keySerializer, "key serializer");
        Utils.closeQuietly(valueSerializer, "value serializer");
    }

    // --------------------------------------------------- what a sidecar can say

    /**
     * Not known here: the daemon owns the Kafka connection and its metadata.
     * Use an {@code Admin} client for partition metadata.
     */
    @Override
    public List<PartitionInfo> partitionsFor(String topic) {
        throw new UnsupportedOperationException("ringside: partitionsFor() is not known to a"
                + " RingsideProducer: the ringside daemon owns the Kafka connection; ask an Admin client");
    }

    /**
     * The session's figures: records sent, refused and failed, futures waiting,
     * the ring's size and use, records the daemon finished and reports dropped
     * (group {@code ringside-producer-metrics}).
     */
    @Override
    public Map<MetricName, ? extends Metric> metrics() {
        Map<MetricName, Metric> m = new LinkedHashMap<>();
        long[] s = closed ? new long[5] : Native.state(handle);
        add(m, "record-send-total", "records accepted into the ring", () -> next.get() - 1 - refusedClaimed.get());
        add(m, "record-refused-total", "sends that failed at once (ring full, bad record)", refused::get);
        add(m, "record-error-total", "records whose final report is a failure", failed::get);
        add(m, "records-waiting", "records sent and waiting for their final report", () -> next.get() - low);
        add(m, "ring-size-bytes", "the session's ring", () -> s[1]);
        add(m, "ring-used-bytes", "ring bytes sent and not yet finished by the daemon", () -> s[2]);
        add(m, "records-finished-total", "records the daemon finished (delivered, failed or spooled)",
                () -> s[3]);
        add(m, "reports-dropped-total", "reports the reply queue dropped", () -> s[4]);
        add(m, "backpressure", "0 healthy, 1 spilling, 2 refusing, 3 stopping, 4 disconnected",
                () -> s[0]);
        return Collections.unmodifiableMap(m);
    }

    private static void add(Map<MetricName, Metric> m, String name, String desc, Supplier<Object> value) {
        MetricName mn = new MetricName(name, "ringside-producer-metrics", desc, Collections.emptyMap());
        m.put(mn, new Metric() {
            @Override
            public MetricName metricName() {
                return mn;
            }

            @Override
            public Object metricValue() {
                return value.get();
            }
        });
    }

    @Override
    public Uuid clientInstanceId(Duration timeout) {
        throw new UnsupportedOperationException("ringside: no client telemetry (KIP-714): the ringside"
                + " daemon's librdkafka producer talks to Kafka, not this client");
    }

    @Override
    public void registerMetricForSubscription(KafkaMetric metric) {
        // no client telemetry to subscribe to (see clientInstanceId)
    }

    @Override
    public void unregisterMetricFromSubscription(KafkaMetric metric) {
        // no client telemetry to subscribe to (see clientInstanceId)
    }

    // ------------------------------------------------------ transactions

    private static UnsupportedOperationException noTransactions() {
        return new UnsupportedOperationException("ringside: transactions are not supported: records go"
                + " through the ringside daemon's shared producer, which may spool and replay them;"
                + " use KafkaProducer for transactional writes");
    }

    @Override
    public void initTransactions() {
        throw noTransactions();
    }

    @Override
    public void beginTransaction() {
        throw noTransactions();
    }

    @Override
    public void sendOffsetsToTransaction(Map<TopicPartition, OffsetAndMetadata> offsets,
            ConsumerGroupMetadata groupMetadata) {
        throw noTransactions();
    }

    @Override
    public void commitTransaction() {
        throw noTransactions();
    }

    @Override
    public void abortTransaction() {
        throw noTransactions();
    }

    /** libringside's version, as ringside_version() says it. */
    public static String libraryVersion() {
        return Native.version();
    }
}
