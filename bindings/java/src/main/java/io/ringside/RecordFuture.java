// SPDX-License-Identifier: MIT
package io.ringside;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.producer.RecordMetadata;

/**
 * A record's future, completed from its final delivery report. get() throws
 * an ExecutionException whose cause is the Kafka exception, as
 * KafkaProducer's futures do. Not cancellable: a record in the ring is
 * the daemon's.
 */
final class RecordFuture implements Future<RecordMetadata> {
    private final CompletableFuture<RecordMetadata> f = new CompletableFuture<>();

    void complete(RecordMetadata md) {
        f.complete(md);
    }

    void fail(Throwable e) {
        f.completeExceptionally(e);
    }

    @Override
    public boolean cancel(boolean mayInterruptIfRunning) {
        return false;
    }

    @Override
    public boolean isCancelled() {
        return false;
    }

    @Override
    public boolean isDone() {
        return f.isDone();
    }

    @Override
    public RecordMetadata get() throws InterruptedException, ExecutionException {
        return f.get();
    }

    @Override
    public RecordMetadata get(long timeout, TimeUnit unit)
            throws InterruptedException, ExecutionException, java.util.concurrent.TimeoutException {
        return f.get(timeout, unit);
    }
}
