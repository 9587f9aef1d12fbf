// SPDX-License-Identifier: MIT
package io.ringside;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * The JNI layer over libringside (src/main/native/ringside_jni.c). The
 * library is inside the jar, for this platform; {@code -Dringside.jni=PATH}
 * names another copy.
 */
final class Native {
    /** Longs per report in {@link #poll}'s answer. */
    static final int REPORT_WORDS = 8;

    static final int EFULL = -1000;
    static final int ETOOBIG = -1001;
    static final int EMSG_TIMEOUT = -1100;
    static final int ERECORD_TOO_LARGE = -1101;
    static final int EUNKNOWN_TOPIC = -1102;
    static final int EAUTH = -1103;
    static final int STAGE_SPOOLED = 3;

    static {
        String path = System.getProperty("ringside.jni");
        if (path == null) {
            path = extract();
        }
        System.load(path);
    }

    private Native() {
    }

    private static String extract() {
        String arch = System.getProperty("os.arch");
        String res = "/io/ringside/native/" + System.getProperty("os.name").toLowerCase()
                + "-" + arch + "/libringside_jni.so";
        try (InputStream in = Native.class.getResourceAsStream(res)) {
            if (in == null) {
                throw new UnsatisfiedLinkError("ringside: no native library for " + res
                        + " in the jar (built for the platform it was built on)");
            }
            Path tmp = Files.createTempFile("libringside_jni", ".so");
            Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
            tmp.toFile().deleteOnExit();
            return tmp.toString();
        } catch (IOException e) {
            throw new UnsatisfiedLinkError("ringside: cannot extract " + res + ": " + e);
        }
    }

    static native long open(String socket, String name, int timeoutMs);

    static native long topic(long h, String name);

    static native int send(long h, long topic, byte[] key, byte[] value, String[] headerNames,
            byte[][] headerValues, int partition, long timestamp, long opaque);

    /** opaque, status, kafka_error, persistence, stage, partition, offset, timestamp. */
    static native long[] poll(long h);

    static native int await(long h, int timeoutMs);

    static native long[] state(long h);

    static native String strerror(int code);

    static native String version();

    static native void close(long h);
}
