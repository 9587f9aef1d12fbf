// SPDX-License-Identifier: MIT
// Sends ten orders through ringsided with RingsideProducer, where a
// KafkaProducer would have been, and prints where each one landed.
//
//   java -cp ringside-kafka-0.1.0.jar:CLASSPATH SendOrders.java [SOCKET]

import java.util.Properties;

import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;

import io.ringside.RingsideProducer;

public class SendOrders {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.put("key.serializer", "org.apache.kafka.common.serialization.StringSerializer");
        props.put("value.serializer", "org.apache.kafka.common.serialization.StringSerializer");
        props.put("client.id", "send-orders");
        if (args.length > 0) {
            props.put("ringside.socket", args[0]); // else $RINGSIDE_SOCKET, or the default
        }
        try (Producer<String, String> producer = new RingsideProducer<>(props)) {
            for (int i = 1; i <= 10; i++) {
                String order = "{\"id\": " + i + "}";
                // never blocks: a full ring fails the future (and the callback) at once
                producer.send(new ProducerRecord<>("orders", "customer-" + (i % 3), order), (md, e) -> {
                    if (e != null) {
                        System.out.println(order + " failed: " + e.getMessage());
                    } else {
                        System.out.println(order + " -> " + md.topic() + "[" + md.partition() + "] @"
                                + md.offset());
                    }
                });
            }
            producer.flush();
        }
    }
}
