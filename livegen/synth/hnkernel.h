/* The timbre synth's run-time kernel (hnkernel.c). This header is also the cffi declaration
   of the module livegen.synth._hnkernel (hnkernel_build.py reads it, dropping the lines that
   start with '#'), so it holds plain declarations only. */
#ifndef LG_HNKERNEL_H
#define LG_HNKERNEL_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int voices;
    int sample_rate;
    int hop;
    int z_dim;
    int n_note;
    int channels;
    int layers;
    int head;
    int n_harmonics;
    int noise_bands;
    float max_dev_cents;
    double frame_s;
    double log_f0_center;
    double log_f0_scale;
    int n_onset;
    double onset_taus[8];
    int n_release;
    double release_taus[8];
    double glide;
    float noise_scale;
    float gain;
    double release_max_s;
    double trained_release_s;
    double min_release_s;
    float silent_rms;
} lg_dims;

typedef struct {
    int fading;
    int channel;
    int64_t t_on;
    int64_t t_off;
    int64_t ring_frame;
    double f0;
    float velocity;
    float rms; /* the voice's latest frame */
} lg_voice_info;

enum { LG_NONE = 0, LG_FADED = 1, LG_EXPIRED = 2, LG_SILENT = 3 };

typedef struct lg_synth lg_synth;

size_t lg_weight_count(const lg_dims *d);
lg_synth *lg_new(const lg_dims *d, const int *dilations, const float *weights, size_t n_weights,
                 const float *bands, const float *window);
void lg_free(lg_synth *s);
void lg_set_channel_z(lg_synth *s, int channel, const float *z);
void lg_voice_start(lg_synth *s, int v, int channel, double f0, double f0_max, float velocity);
void lg_voice_eq(lg_synth *s, int v, const float *hgain, const float *ngain);
void lg_voice_release(lg_synth *s, int v);
void lg_voice_fade(lg_synth *s, int v);
void lg_voice_state(const lg_synth *s, int v, lg_voice_info *out);
void lg_voice_z(const lg_synth *s, int v, float *z);
int lg_render(lg_synth *s, const int *slots, int J, const float *uniforms, float *mix, int *events);
const char *lg_isa(void);

#endif
