/* The process callback of livegen's JACK MIDI ports (livegen/io/jackmidi.py), built with the
 * package (livegen/io/jack_build.py) into livegen.io._jack.
 *
 * It runs on JACK's real-time thread and never waits for Python's interpreter lock:
 * it moves MIDI events between the port's buffer and lock-free ring buffers
 * (jack_ringbuffer, one reader and one writer), and ties frames to the monotonic clock.
 *
 * Record in a ring: int64 time (monotonic ns; INT64_MIN: untimed), uint32 size, bytes.
 * Input: each event is stamped with the time of its frame (or the frame itself), then
 * a semaphore wakes the Python reader. Output: untimed records go at the cycle's first
 * frame; timed records at their frame, once it falls in the cycle (a record not yet due
 * stays at the head of its ring).
 *
 * Clock: JACK's cycle start times (jack_get_cycle_times, CLOCK_MONOTONIC_RAW on Linux)
 * feed a delay-locked loop of 0.5 Hz bandwidth (F. Adriaensen, "Using a DLL to filter
 * time"), since they jitter with the driver's wake-ups; the offset from
 * CLOCK_MONOTONIC_RAW to CLOCK_MONOTONIC is read in the same cycle.
 *
 * Latency: the port reports what it adds (JACK's latency callback, also in C): an input's
 * events reach livegen's output a period later at the earliest (pass-through); an output
 * writes timed events on their frame, pass-through up to a period after it arrived.
 */
#include "lgjack.h"
#include <jack/jack.h>
#include <jack/midiport.h>
#include <jack/ringbuffer.h>
#include <math.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define UNTIMED INT64_MIN
#define BANDWIDTH_HZ 0.5
#define RELOCK_NS 2e6

typedef struct {
    int64_t t;
    uint32_t size;
} record;

/* the head record of ring into r, if it is there whole (its writer writes the header
   first, then the data) */
static int head(jack_ringbuffer_t *ring, record *r) {
    return jack_ringbuffer_peek(ring, (char *)r, sizeof *r) == sizeof *r
           && jack_ringbuffer_read_space(ring) >= sizeof *r + r->size;
}

struct lg_port {
    jack_client_t *client;
    jack_port_t *port;
    int is_input, frames_mode;
    jack_ringbuffer_t *ring;  /* input: to Python; output: timed records from Python */
    jack_ringbuffer_t *now;   /* output: untimed records from Python */
    sem_t ready;
    double rate, t0, ns_per_frame;
    uint32_t frame0;
    int locked;
    uint64_t late, overflow, written, dropped;
    uint64_t cycles; /* process callbacks so far: a client JACK never runs shows 0 */
};

static double ns_of(const struct timespec *ts) { return ts->tv_sec * 1e9 + ts->tv_nsec; }

static void clock_update(lg_port *p, jack_nframes_t frames) {
    struct timespec raw, mono;
    clock_gettime(CLOCK_MONOTONIC_RAW, &raw);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    double offset = ns_of(&mono) - ns_of(&raw), start;
    jack_nframes_t cf;
    jack_time_t cu, nu;
    float pu;
    uint32_t f0;
    if (jack_get_cycle_times(p->client, &cf, &cu, &nu, &pu) == 0) {
        f0 = cf;
        start = cu * 1000.0;
    } else {
        f0 = jack_last_frame_time(p->client);
        start = ns_of(&raw);
    }
    start += offset;
    if (p->locked) {
        double predicted = p->t0 + (double)(uint32_t)(f0 - p->frame0) * p->ns_per_frame;
        double error = start - predicted;
        if (fabs(error) < RELOCK_NS) {
            double w = 2 * M_PI * BANDWIDTH_HZ * frames / p->rate;
            p->t0 = predicted + M_SQRT2 * w * error;
            p->ns_per_frame += w * w * error / frames;
            p->frame0 = f0;
            return;
        }
    } else {
        p->ns_per_frame = 1e9 / p->rate;
    }
    p->t0 = start; /* (re)lock: this cycle's start, the rate kept */
    p->frame0 = f0;
    p->locked = 1;
}

static void process_input(lg_port *p, jack_nframes_t frames) {
    void *buf = jack_port_get_buffer(p->port, frames);
    uint32_t n = jack_midi_get_event_count(buf), got = 0;
    for (uint32_t i = 0; i < n; i++) {
        jack_midi_event_t ev;
        if (jack_midi_event_get(&ev, buf, i))
            break;
        if (ev.size == 0 || (ev.size == 1 && ev.buffer[0] == 0xFE))
            continue; /* active sensing carries nothing */
        record r = {p->frames_mode ? (int64_t)(p->frame0 + ev.time)
                                   : (int64_t)llround(p->t0 + ev.time * p->ns_per_frame),
                    (uint32_t)ev.size};
        if (jack_ringbuffer_write_space(p->ring) < sizeof r + ev.size) {
            p->dropped++;
            continue;
        }
        jack_ringbuffer_write(p->ring, (const char *)&r, sizeof r);
        jack_ringbuffer_write(p->ring, (const char *)ev.buffer, ev.size);
        got++;
    }
    if (got)
        sem_post(&p->ready);
}

/* write the head record of ring at offset; 0 if the port's buffer is full */
static int write_head(lg_port *p, jack_ringbuffer_t *ring, void *buf, const record *r, uint32_t offset) {
    jack_midi_data_t *dst = jack_midi_event_reserve(buf, offset, r->size);
    if (dst == NULL) {
        p->overflow++;
        return 0;
    }
    jack_ringbuffer_read_advance(ring, sizeof *r);
    jack_ringbuffer_read(ring, (char *)dst, r->size);
    p->written++;
    return 1;
}

static void process_output(lg_port *p, jack_nframes_t frames) {
    void *buf = jack_port_get_buffer(p->port, frames);
    jack_midi_clear_buffer(buf);
    record r;
    uint32_t last = 0;
    while (head(p->now, &r))
        if (!write_head(p, p->now, buf, &r, 0))
            return;
    while (head(p->ring, &r)) {
        double offset = floor((r.t - p->t0) / p->ns_per_frame);
        if (offset >= frames)
            break; /* due in a later cycle */
        if (offset < -1)
            p->late++; /* handed over after its cycle began: at the cycle's start */
        uint32_t at = offset < 0 ? 0 : (uint32_t)offset;
        if (at < last)
            at = last;
        if (!write_head(p, p->ring, buf, &r, at))
            return;
        last = at;
    }
}

static int process(jack_nframes_t frames, void *arg) {
    lg_port *p = arg;
    p->cycles++;
    clock_update(p, frames);
    if (p->is_input)
        process_input(p, frames);
    else
        process_output(p, frames);
    return 0;
}

static void on_latency(jack_latency_callback_mode_t mode, void *arg) {
    lg_port *p = arg;
    jack_nframes_t period = jack_get_buffer_size(p->client);
    jack_latency_range_t range = {0, 0};
    if (p->is_input && mode == JackPlaybackLatency)
        range.min = range.max = period;
    else if (!p->is_input && mode == JackCaptureLatency)
        range.max = period;
    jack_port_set_latency_range(p->port, mode, &range);
}

/* Set up the process and latency callbacks of a client (before jack_activate). */
lg_port *lg_attach(jack_client_t *client, jack_port_t *port, int is_input, int frames_mode, size_t ring_bytes) {
    lg_port *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->client = client;
    p->port = port;
    p->is_input = is_input;
    p->frames_mode = frames_mode;
    p->rate = jack_get_sample_rate(client);
    p->ring = jack_ringbuffer_create(ring_bytes);
    p->now = is_input ? NULL : jack_ringbuffer_create(ring_bytes / 4);
    sem_init(&p->ready, 0, 0);
    if (p->ring == NULL || (!is_input && p->now == NULL) || jack_set_process_callback(client, process, p)
        || jack_set_latency_callback(client, on_latency, p)) {
        if (p->ring)
            jack_ringbuffer_free(p->ring);
        if (p->now)
            jack_ringbuffer_free(p->now);
        free(p);
        return NULL;
    }
    jack_ringbuffer_mlock(p->ring);
    return p;
}

/* After the client is deactivated or closed. */
void lg_free(lg_port *p) {
    jack_ringbuffer_free(p->ring);
    if (p->now)
        jack_ringbuffer_free(p->now);
    sem_destroy(&p->ready);
    free(p);
}

/* Output, one writer: queue a message (t = INT64_MIN: untimed); 0 if the ring is full. */
int lg_send(lg_port *p, int64_t t, const unsigned char *data, uint32_t size) {
    jack_ringbuffer_t *ring = t == UNTIMED ? p->now : p->ring;
    record r = {t, size};
    if (jack_ringbuffer_write_space(ring) < sizeof r + size) {
        p->dropped++;
        return 0;
    }
    jack_ringbuffer_write(ring, (const char *)&r, sizeof r);
    jack_ringbuffer_write(ring, (const char *)data, size);
    return 1;
}

/* Bytes not yet taken by the process callback (output). */
size_t lg_pending(lg_port *p) {
    return jack_ringbuffer_read_space(p->ring) + (p->now ? jack_ringbuffer_read_space(p->now) : 0);
}

/* Input, one reader: wait up to timeout_ms for a cycle with events; 1 if woken. */
int lg_wait(lg_port *p, int timeout_ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return sem_timedwait(&p->ready, &ts) == 0;
}

void lg_wake(lg_port *p) { sem_post(&p->ready); }

/* Input: the next record into t and data (capacity cap); its size, 0 if none. */
uint32_t lg_read(lg_port *p, int64_t *t, unsigned char *data, uint32_t cap) {
    record r;
    if (!head(p->ring, &r))
        return 0;
    jack_ringbuffer_read_advance(p->ring, sizeof r);
    uint32_t keep = r.size < cap ? r.size : cap;
    jack_ringbuffer_read(p->ring, (char *)data, keep);
    if (r.size > keep)
        jack_ringbuffer_read_advance(p->ring, r.size - keep);
    *t = r.t;
    return keep;
}

/* late, overflow, written, dropped */
void lg_counts(lg_port *p, uint64_t out[4]) {
    out[0] = p->late;
    out[1] = p->overflow;
    out[2] = p->written;
    out[3] = p->dropped;
}

/* Process callbacks so far. */
uint64_t lg_cycles(lg_port *p) { return p->cycles; }
