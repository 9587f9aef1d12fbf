// SPDX-License-Identifier: MIT
package io.ringside;

import org.apache.kafka.common.KafkaException;

/** An error of libringside or of the ringside daemon, with its code. */
public class RingsideException extends KafkaException {
    private static final long serialVersionUID = 1L;

    private final int code;

    public RingsideException(String message) {
        this(0, message);
    }

    public RingsideException(int code, String message) {
        super(message);
        this.code = code;
    }

    /** libringside's RINGSIDE_E* code (negative), or 0 when there is none. */
    public int code() {
        return code;
    }
}
