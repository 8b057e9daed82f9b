/* livegen's JACK process callbacks (jackmidi.c, jackaudio.c): what Python calls.
 *
 * jack_build.py hands the declarations between the cdef markers to cffi as its cdef,
 * and the generated module includes this header, so the compiler checks what Python calls
 * against what the C defines (cffi API mode). Keep the block plain C declarations: no
 * macros, no #include. Counters are read whole from other threads (uint64_t, aligned). */
#ifndef LGJACK_H
#define LGJACK_H
#include <jack/jack.h>
#include <stddef.h>
#include <stdint.h>

/* cdef begin */
typedef struct lg_port lg_port;
/* MIDI (jackmidi.c) */
lg_port *lg_attach(jack_client_t *client, jack_port_t *port, int is_input, int frames_mode, size_t ring_bytes);
void lg_free(lg_port *p);
int lg_send(lg_port *p, int64_t t, const unsigned char *data, uint32_t size);
size_t lg_pending(lg_port *p);
int lg_wait(lg_port *p, int timeout_ms);
void lg_wake(lg_port *p);
uint32_t lg_read(lg_port *p, int64_t *t, unsigned char *data, uint32_t cap);
void lg_counts(lg_port *p, uint64_t out[4]);
uint64_t lg_cycles(lg_port *p);

typedef struct lg_audio lg_audio;
/* audio out (jackaudio.c) */
lg_audio *lga_attach(jack_client_t *client, jack_port_t *port, uint32_t capacity);
void lga_free(lg_audio *a);
uint32_t lga_write(lg_audio *a, const float *data, uint32_t frames);
uint32_t lga_available(lg_audio *a);
uint32_t lga_pull(lg_audio *a, float *out, uint32_t frames);
void lga_counts(lg_audio *a, uint64_t out[6]);
int lga_lost(lg_audio *a);
uint32_t lga_latency(lg_audio *a);
int lga_wait(lg_audio *a, int timeout_us);
int lga_rebind(lg_audio *a, jack_client_t *client, jack_port_t *port);
/* cdef end */
#endif
