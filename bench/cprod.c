/* cprod: a librdkafka producer loop in C, for measuring a broker's produce throughput when
 * the client is not a Python loop (see docs/performance.md, "What a faster client shows").
 * It is a measurement tool, not part of Strom, and no test uses it.
 *
 * Build (Debian's librdkafka-dev, or any librdkafka >= 1.0):
 *     cc -O2 -o cprod bench/cprod.c -lrdkafka
 * Use (the topic must exist; partitioning is librdkafka's default):
 *     ./cprod BOOTSTRAP TOPIC RECORDS RECORD_SIZE ACKS [COMPRESSION]
 *
 * The producer settings are those of `strom perf produce`, which bench/referee.py runs
 * (linger.ms=5, batch.size=1000000; here also a 2 M record local queue and delivery reports
 * for errors only), so the main difference from the referee's produce phase is C instead of
 * Python calling produce().
 * The clock runs from the first produce() to flush() returning; it prints one line:
 *     records_per_s R elapsed S enqueue S errors N unflushed N
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <librdkafka/rdkafka.h>

static long delivery_errors = 0;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk; (void)opaque;
    if (m->err) delivery_errors++;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s BOOTSTRAP TOPIC RECORDS RECORD_SIZE ACKS [COMPRESSION]\n", argv[0]);
        return 2;
    }
    long records = atol(argv[3]);
    int size = atoi(argv[4]);
    char err[512];
    const char *settings[][2] = {
        {"bootstrap.servers", argv[1]}, {"acks", argv[5]}, {"linger.ms", "5"},
        {"batch.size", "1000000"}, {"batch.num.messages", "1000000"},
        {"queue.buffering.max.messages", "2000000"}, {"queue.buffering.max.kbytes", "2097152"},
        {"delivery.report.only.error", "true"}, {"message.timeout.ms", "120000"},
        {"compression.type", argc > 6 ? argv[6] : "none"},
    };
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
        if (rd_kafka_conf_set(conf, settings[i][0], settings[i][1], err, sizeof err) != RD_KAFKA_CONF_OK) {
            fprintf(stderr, "%s\n", err);
            return 2;
        }
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    rd_kafka_topic_t *topic = rd_kafka_topic_new(rk, argv[2], NULL);
    const struct rd_kafka_metadata *metadata;  /* warm the connection outside the clock */
    if (rd_kafka_metadata(rk, 0, topic, &metadata, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_metadata_destroy(metadata);

    char *payload = malloc(size);
    for (int i = 0; i < size; i++) payload[i] = 'A' + i % 26;
    double t0 = now_s();
    for (long i = 0; i < records;) {
        if (rd_kafka_produce(topic, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
                             payload, size, NULL, 0, NULL) == -1) {
            rd_kafka_poll(rk, 5);  /* local queue full: serve callbacks, retry */
            continue;
        }
        if ((++i & 0x3FFF) == 0) rd_kafka_poll(rk, 0);
    }
    double t_enqueued = now_s();
    int unflushed = rd_kafka_flush(rk, 120000);
    double t1 = now_s();
    printf("records_per_s %.0f elapsed %.3f enqueue %.3f errors %ld unflushed %d\n",
           records / (t1 - t0), t1 - t0, t_enqueued - t0, delivery_errors, unflushed);
    free(payload);
    rd_kafka_topic_destroy(topic);
    rd_kafka_destroy(rk);
    return delivery_errors || unflushed ? 1 : 0;
}
