/* The process callback of livegen's JACK audio output (livegen/io/jackaudio.py), built with
 * the package (livegen/io/jack_build.py) into livegen.io._jack.
 *
 * It runs on JACK's real-time thread and never waits for Python's interpreter lock: each
 * cycle it copies a period of float samples from a single-producer, single-consumer ring
 * into the port's buffer, fills what the ring lacks with silence, and counts.
 *
 * The ring: frames ever written (owned by the writer, the render thread through lga_write)
 * and frames ever read (owned by the reader, this callback); each side reads the other's
 * counter with acquire and publishes its own with release after its frames are copied, so
 * no lock is needed and neither side sees a half-copied frame.
 */
#include "lgjack.h"
#include <jack/jack.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct lg_audio {
    jack_client_t *client;
    jack_port_t *port;
    float *buf;
    uint32_t capacity;
    _Atomic uint64_t written, read;
    /* written by the callback, read whole by anyone */
    _Atomic uint64_t callbacks, frames, underruns, silence, period;
    _Atomic int lost;
    sem_t cycle; /* posted after every callback: the render thread's wake-up */
};

/* Reader: copy up to frames from the ring into out, silence after; frames copied. */
uint32_t lga_pull(lg_audio *a, float *out, uint32_t frames) {
    uint64_t read = atomic_load_explicit(&a->read, memory_order_relaxed);
    uint64_t ready = atomic_load_explicit(&a->written, memory_order_acquire) - read;
    uint32_t n = ready < frames ? (uint32_t)ready : frames;
    uint32_t start = (uint32_t)(read % a->capacity);
    uint32_t first = n < a->capacity - start ? n : a->capacity - start;
    memcpy(out, a->buf + start, first * sizeof *out);
    memcpy(out + first, a->buf, (n - first) * sizeof *out);
    memset(out + n, 0, (frames - n) * sizeof *out);
    atomic_store_explicit(&a->read, read + n, memory_order_release);
    return n;
}

static int process(jack_nframes_t frames, void *arg) {
    lg_audio *a = arg;
    float *out = jack_port_get_buffer(a->port, frames);
    uint32_t n = lga_pull(a, out, frames);
    if (n < frames) {
        atomic_fetch_add_explicit(&a->underruns, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&a->silence, frames - n, memory_order_relaxed);
    }
    atomic_store_explicit(&a->period, frames, memory_order_relaxed);
    atomic_fetch_add_explicit(&a->frames, frames, memory_order_relaxed);
    atomic_fetch_add_explicit(&a->callbacks, 1, memory_order_release);
    sem_post(&a->cycle); /* async-signal-safe, never blocks */
    return 0;
}

static void on_shutdown(jack_status_t code, const char *reason, void *arg) {
    (void)code;
    (void)reason;
    atomic_store(&((lg_audio *)arg)->lost, 1);
}

/* A ring of capacity frames; with a client, also its process and shutdown callbacks (before
   jack_activate). NULL if out of memory or JACK refused the callbacks. */
lg_audio *lga_attach(jack_client_t *client, jack_port_t *port, uint32_t capacity) {
    if (capacity == 0)
        return NULL;
    lg_audio *a = calloc(1, sizeof *a);
    if (a == NULL)
        return NULL;
    a->buf = calloc(capacity, sizeof *a->buf);
    a->capacity = capacity;
    sem_init(&a->cycle, 0, 0);
    a->client = client;
    a->port = port;
    if (a->buf == NULL || (client != NULL && jack_set_process_callback(client, process, a))) {
        free(a->buf);
        free(a);
        return NULL;
    }
    mlock(a->buf, capacity * sizeof *a->buf); /* best effort: no page fault on JACK's thread */
    if (client != NULL) {
        jack_on_info_shutdown(client, on_shutdown, a);
        a->period = jack_get_buffer_size(client);
    }
    return a;
}

/* The ring and counts of a, moved to a new client and port (the old client closed first;
   before jack_activate): its process and shutdown callbacks. 0 if JACK refused them. */
int lga_rebind(lg_audio *a, jack_client_t *client, jack_port_t *port) {
    a->client = client;
    a->port = port;
    if (jack_set_process_callback(client, process, a))
        return 0;
    jack_on_info_shutdown(client, on_shutdown, a);
    atomic_store(&a->lost, 0);
    return 1;
}

/* After the client is closed. */
void lga_free(lg_audio *a) {
    sem_destroy(&a->cycle);
    munlock(a->buf, a->capacity * sizeof *a->buf);
    free(a->buf);
    free(a);
}

/* Writer: copy as many of frames as fit; frames copied. */
uint32_t lga_write(lg_audio *a, const float *data, uint32_t frames) {
    uint64_t written = atomic_load_explicit(&a->written, memory_order_relaxed);
    uint64_t used = written - atomic_load_explicit(&a->read, memory_order_acquire);
    uint32_t room = a->capacity - (uint32_t)used;
    uint32_t n = frames < room ? frames : room;
    uint32_t start = (uint32_t)(written % a->capacity);
    uint32_t first = n < a->capacity - start ? n : a->capacity - start;
    memcpy(a->buf + start, data, first * sizeof *data);
    memcpy(a->buf, data + first, (n - first) * sizeof *data);
    atomic_store_explicit(&a->written, written + n, memory_order_release);
    return n;
}

/* The render thread: wait up to timeout_us for a callback that came since the last wait
   (at once if one did: those are taken together); 1 if one came, 0 on the timeout. */
int lga_wait(lg_audio *a, int timeout_us) {
    int got = sem_trywait(&a->cycle) == 0;
    if (!got) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)timeout_us * 1000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        got = sem_timedwait(&a->cycle, &ts) == 0;
    }
    while (got && sem_trywait(&a->cycle) == 0) {
    }
    return got;
}

/* Frames written and not yet read. */
uint32_t lga_available(lg_audio *a) {
    return (uint32_t)(atomic_load_explicit(&a->written, memory_order_acquire)
                      - atomic_load_explicit(&a->read, memory_order_acquire));
}

/* callbacks, frames, underruns (callbacks that found too little), silence (frames filled with
   silence), period (frames of the latest callback), written (frames ever written) */
void lga_counts(lg_audio *a, uint64_t out[6]) {
    out[0] = atomic_load_explicit(&a->callbacks, memory_order_acquire);
    out[1] = atomic_load(&a->frames);
    out[2] = atomic_load(&a->underruns);
    out[3] = atomic_load(&a->silence);
    out[4] = atomic_load(&a->period);
    out[5] = atomic_load(&a->written);
}

/* The server shut the client down (it stopped, or threw the client out). */
int lga_lost(lg_audio *a) { return atomic_load(&a->lost); }

/* Frames from the port to the server's outputs: the largest of its playback latency range. */
uint32_t lga_latency(lg_audio *a) {
    if (a->port == NULL)
        return 0;
    jack_latency_range_t range;
    jack_port_get_latency_range(a->port, JackPlaybackLatency, &range);
    return range.max;
}
