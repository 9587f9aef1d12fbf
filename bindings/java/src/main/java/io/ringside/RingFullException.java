// SPDX-License-Identifier: MIT
package io.ringside;

import org.apache.kafka.common.errors.RetriableException;

/**
 * The session's shared-memory ring (or the producer's bound on records
 * waiting for a report) is full: the record was not sent. Thrown into the
 * returned future and the callback at once; {@code send()} never waits for
 * room. Retriable: the daemon frees room as Kafka (or its spool) takes the
 * records.
 */
public class RingFullException extends RetriableException {
    private static final long serialVersionUID = 1L;

    public RingFullException(String message) {
        super(message);
    }
}
