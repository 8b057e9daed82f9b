/* The timbre synth's run-time kernel: every sounding voice of one frame in one call.

   Per voice and frame (4 ms) it does what livegen/synth/reference.py does with numpy and
   ONNX Runtime (the reference the tests hold this kernel equal to):

   1. glide the voice's timbre code z toward its channel's, build the note features
      (livegen.core.hnsynth.note_features) and the conditioning c = [z, features];
   2. the decoder step (livegen.train.timbre.model.Decoder.step and controls()): an input
      layer, L gated causal dilated layers whose gates are biased by c, a skip projection and
      a two-layer head -> amplitude, harmonic distribution, pitch deviation, noise band gains;
      each voice keeps one ring of d_l rows per layer (the layer's input d_l frames ago);
   3. the harmonic-plus-noise synthesis (livegen.core.hnsynth.FrameSynth.render): a wavetable
      per voice and frame (inverse FFT of the band-limited harmonic amplitudes), read at the
      phase of an f0 that moves linearly over the frame and cross-faded from the previous
      frame's table; white noise shaped per frame in the frequency domain (random phases from
      uniforms the caller draws), sqrt-Hann windowed grains overlap-added with a hop of a frame;
   4. a stolen or expired voice fades out over the frame; the voices are summed (times gain);
      the frame's bookkeeping (frames since note-on and note-off) advances and an event per
      voice says what the caller must do (a fade ended, a release fell silent, a release
      outlived what the model learned and now fades).

   Voices are batched through every matrix product so that each weight row serves all of them.
   The caller (the render thread) owns the kernel; it holds no lock and allocates nothing after
   lg_new. Called through cffi, which releases the interpreter lock for the call. */

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hnkernel.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
/* one portable wheel, the widest vector unit the CPU has (chosen once at load by ifunc) */
#define LG_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define LG_CLONES
#endif

#define TABLE 1024
#define PHASES 4096
#define JB 4   /* voices per block in the matrix products */
#define OB 16  /* outputs per block */

typedef struct { float re, im; } cpx;
/* 8 floats: one AVX register, two SSE ones; buffers are 32-byte aligned, rows multiples of 8 */
typedef float vf __attribute__((vector_size(32)));
#define VL 8

typedef struct {
    int n;          /* size */
    int nf;         /* number of factors */
    int factors[32];
    cpx *tw;        /* e^{+2 pi i k / n}, k < n */
    cpx *scratch;   /* FFT_GROUP x the largest factor */
} fft_plan;

/* a layer: w (in, out) and b (out), out padded to whole blocks of OB with zeros */
typedef struct { float *w; float *b; int in, out; } dense;

struct lg_synth {
    lg_dims d;
    int cond, hop, bins, ring_rows;
    int *dil, *ring_off;
    /* weights, transposed to (in, out) */
    dense inp, condl, skip, h1, h2;
    dense *gate, *res;
    float *weights;
    /* synthesis constants */
    float *bands;   /* (B, bins) */
    float *zeros;   /* (bins) */
    dense bandl;    /* noise band gains -> the grain's bin gains */
    float *window;  /* (2 hop) */
    float *alpha;   /* (hop) */
    double *lin, *quad;
    cpx *phasor;    /* PHASES */
    fft_plan table_fft, grain_fft;
    /* per voice (slot) state */
    float *z;       /* (V, Z) */
    float *chz;     /* (16, Z) */
    float *ring;    /* (V, ring_rows, C) */
    int64_t *ring_frame;
    int *channel;
    double *f0_note, *phase, *f0_prev;
    float *velocity;
    float *mask;    /* (V, K) 1 below Nyquist, times the voice's harmonic calibration */
    float *ngain;   /* (V, B) the voice's noise calibration */
    float *rms;     /* (V) the voice's latest frame's RMS */
    int64_t *t_on, *t_off;
    int *fading;
    float *table;   /* (V, TABLE + 1) previous frame's wavetable */
    float *tail;    /* (V, hop) */
    /* scratch, a row per voice of this frame */
    float *x_cond, *x_h, *x_bias, *x_gate, *x_a, *x_tmp, *x_outs, *x_s, *x_hh, *x_raw;
    float *audio;   /* (V, hop) */
    float *tab_re, *tab_im, *grain_re, *grain_im, *out_re, *out_im;  /* FFT buffers, N x FFT_GROUP */
    int tab_lanes;  /* the layout of tab_re (8 or FFT_GROUP lanes) */
    double *f0_cur; /* (V) this frame's f0 */
    float *newtab;
    float *x_noise, *x_g;  /* (V, B) band gains, (V, bins) bin gains */
    float *amps;
};

/* ---------------------------------------------------------------------------------------- */
/* vector math written so the compiler vectorises it */

static float *alloc_f(size_t n) {  /* zeroed, 64-byte aligned, rounded up to whole vectors */
    size_t bytes = ((n ? n : 1) * sizeof(float) + 63) / 64 * 64;
    float *p = (float *)aligned_alloc(64, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

/* e^x for x in [-87, 87], relative error about 2e-7: 2^(x log2 e) = 2^n * 2^f, f in [-0.5, 0.5],
   2^f by its Taylor series to the 7th power */
static inline float fast_exp(float x) {
    x = x < -87.0f ? -87.0f : (x > 87.0f ? 87.0f : x);
    float t = x * 1.44269504088896341f;
    float n = (t + 12582912.0f) - 12582912.0f;  /* round to nearest (1.5 * 2^23): no libm call */
    float f = (t - n) * 0.693147180559945309f;
    float p = 1.0f + f * (1.0f + f * (0.5f + f * (1.0f / 6 + f * (1.0f / 24 + f * (1.0f / 120
              + f * (1.0f / 720 + f * (1.0f / 5040)))))));
    union { int32_t i; float f; } scale = {((int32_t)n + 127) << 23};
    return p * scale.f;
}

static inline float fast_sigmoid(float x) { return 1.0f / (1.0f + fast_exp(-x)); }

/* the same e^x on 8 lanes, written with vector types so that every instruction set runs it
   lane-parallel (no libm, no branches) */
typedef int32_t vi __attribute__((vector_size(32)));
static inline vf vclamp(vf x, float lo, float hi) {
    const vf vlo = x * 0.0f + lo, vhi = x * 0.0f + hi;
    vi below = x < vlo, above = x > vhi;
    vi r = ((vi)x & ~below & ~above) | ((vi)vlo & below) | ((vi)vhi & above);
    return (vf)r;
}
static inline vf vexp(vf x) {
    x = vclamp(x, -87.0f, 87.0f);
    const vf t = x * 1.44269504088896341f;
    const vf n = (t + 12582912.0f) - 12582912.0f;
    const vf f = (t - n) * 0.693147180559945309f;
    const vf p = 1.0f + f * (1.0f + f * (0.5f + f * (1.0f / 6 + f * (1.0f / 24 + f * (1.0f / 120
                 + f * (1.0f / 720 + f * (1.0f / 5040)))))));
    const vi e = (__builtin_convertvector(n, vi) + 127) << 23;
    return p * (vf)e;
}
static inline vf vsigmoid(vf x) { return 1.0f / (1.0f + vexp(-x)); }
static inline vf vtanh(vf x) { return 1.0f - 2.0f / (vexp(2.0f * x) + 1.0f); }

static inline float fast_tanh(float x) {  /* absolute error about 1e-7 */
    return 1.0f - 2.0f / (fast_exp(2.0f * x) + 1.0f);
}

/* Y[j, o] = b[o] + sum_i X[j, i] W[i, o] for j < J, rows ldx / ldy apart; O (the padded
   width) is a multiple of OB. Blocks of JB voices x OB outputs are held in registers while the
   inputs stream by, so each weight row is loaded once per JB voices; the voices beyond whole
   blocks go one at a time. */
LG_CLONES
static void gemm(const float *X, int J, int ldx, const dense *L, float *Y, int ldy) {
    const int I = L->in, O = L->out, Jb = J / JB * JB;
    for (int o0 = 0; o0 < O; o0 += OB) {
        vf b0, b1;
        memcpy(&b0, L->b + o0, sizeof b0);
        memcpy(&b1, L->b + o0 + VL, sizeof b1);
        for (int j0 = 0; j0 < Jb; j0 += JB) {
            vf acc[JB][2];
            for (int jj = 0; jj < JB; jj++) { acc[jj][0] = b0; acc[jj][1] = b1; }
            const float *x0 = X + (size_t)j0 * ldx;
            for (int i = 0; i < I; i++) {
                vf w0, w1;
                memcpy(&w0, L->w + (size_t)i * O + o0, sizeof w0);
                memcpy(&w1, L->w + (size_t)i * O + o0 + VL, sizeof w1);
                for (int jj = 0; jj < JB; jj++) {
                    const float x = x0[(size_t)jj * ldx + i];
                    acc[jj][0] += x * w0;
                    acc[jj][1] += x * w1;
                }
            }
            for (int jj = 0; jj < JB; jj++) {
                memcpy(Y + (size_t)(j0 + jj) * ldy + o0, &acc[jj][0], sizeof(vf));
                memcpy(Y + (size_t)(j0 + jj) * ldy + o0 + VL, &acc[jj][1], sizeof(vf));
            }
        }
        for (int j = Jb; j < J; j++) {
            vf a0 = b0, a1 = b1, c0 = b0 * 0.0f, c1 = c0;  /* two chains: the adds overlap */
            const float *x0 = X + (size_t)j * ldx;
            int i = 0;
            for (; i + 1 < I; i += 2) {
                vf w0, w1, w2, w3;
                memcpy(&w0, L->w + (size_t)i * O + o0, sizeof w0);
                memcpy(&w1, L->w + (size_t)i * O + o0 + VL, sizeof w1);
                memcpy(&w2, L->w + (size_t)(i + 1) * O + o0, sizeof w2);
                memcpy(&w3, L->w + (size_t)(i + 1) * O + o0 + VL, sizeof w3);
                a0 += x0[i] * w0; a1 += x0[i] * w1;
                c0 += x0[i + 1] * w2; c1 += x0[i + 1] * w3;
            }
            for (; i < I; i++) {
                vf w0, w1;
                memcpy(&w0, L->w + (size_t)i * O + o0, sizeof w0);
                memcpy(&w1, L->w + (size_t)i * O + o0 + VL, sizeof w1);
                a0 += x0[i] * w0; a1 += x0[i] * w1;
            }
            a0 += c0; a1 += c1;
            memcpy(Y + (size_t)j * ldy + o0, &a0, sizeof(vf));
            memcpy(Y + (size_t)j * ldy + o0 + VL, &a1, sizeof(vf));
        }
    }
}

/* ---------------------------------------------------------------------------------------- */
/* A complex FFT of any size (mixed radix, recursive decimation in time), inverse direction,
   not normalised: y[n] = sum_k x[k] e^{+2 pi i k n / N}. It transforms G signals at once: each
   element is a vector of G values (element e of signal g at [e * G + g], real and imaginary
   parts in separate arrays), so every butterfly runs over the voices in vector registers. */

#define FFT_GROUP 16  /* signals per call: 2 buffers of 1024 x 16 complex stay in L2 */

static int plan_fft(fft_plan *p, int n) {
    p->n = n;
    p->nf = 0;
    int m = n;
    while (m % 4 == 0 && p->nf < 31) { p->factors[p->nf++] = 4; m /= 4; }
    while (m % 2 == 0 && p->nf < 31) { p->factors[p->nf++] = 2; m /= 2; }
    for (int f = 3; m > 1 && p->nf < 31; f += 2)
        while (m % f == 0 && p->nf < 31) { p->factors[p->nf++] = f; m /= f; }
    if (m != 1) return -1;
    int maxf = 4;
    for (int f = 0; f < p->nf; f++) maxf = p->factors[f] > maxf ? p->factors[f] : maxf;
    p->tw = (cpx *)malloc(sizeof(cpx) * (size_t)n);
    p->scratch = (cpx *)malloc(sizeof(cpx) * (size_t)FFT_GROUP * maxf);
    if (!p->tw || !p->scratch) return -1;
    for (int k = 0; k < n; k++) {
        double a = 2.0 * M_PI * k / n;
        p->tw[k].re = (float)cos(a);
        p->tw[k].im = (float)sin(a);
    }
    return 0;
}

static void free_fft(fft_plan *p) { free(p->tw); free(p->scratch); }

/* out = DFT of in[0], in[stride], ... (n elements); G signals; fi: the factor to apply */
LG_CLONES
static void fft_rec(const fft_plan *p, float *ore, float *oim, const float *ire, const float *iim,
                    int n, int stride, int fi, int twstep, int G) {
    const int r = p->factors[fi], m = n / r, N = p->n;
    const size_t sG = (size_t)G;
    const int nv = G / VL;  /* vectors per element */
    if (m == 1) {
        for (int q = 0; q < r; q++) {
            const vf *xr = (const vf *)(ire + (size_t)q * stride * sG), *xi = (const vf *)(iim + (size_t)q * stride * sG);
            vf *yr = (vf *)(ore + q * sG), *yi = (vf *)(oim + q * sG);
            for (int g = 0; g < nv; g++) { yr[g] = xr[g]; yi[g] = xi[g]; }
        }
    } else {
        for (int q = 0; q < r; q++)
            fft_rec(p, ore + q * m * sG, oim + q * m * sG, ire + (size_t)q * stride * sG,
                    iim + (size_t)q * stride * sG, m, stride * r, fi + 1, twstep * r, G);
    }
    const cpx *tw = p->tw;
    if (r == 2) {
        for (int k = 0; k < m; k++) {
            const float wr = tw[k * twstep].re, wi = tw[k * twstep].im;
            vf *ar = (vf *)(ore + k * sG), *ai = (vf *)(oim + k * sG);
            vf *br = (vf *)(ore + (k + m) * sG), *bi = (vf *)(oim + (k + m) * sG);
            for (int g = 0; g < nv; g++) {
                const vf tr = br[g] * wr - bi[g] * wi, ti = br[g] * wi + bi[g] * wr;
                br[g] = ar[g] - tr; bi[g] = ai[g] - ti;
                ar[g] += tr; ai[g] += ti;
            }
        }
    } else if (r == 4) {
        for (int k = 0; k < m; k++) {
            const cpx w1 = tw[k * twstep], w2 = tw[2 * k * twstep], w3 = tw[3 * k * twstep];
            vf *r0 = (vf *)(ore + k * sG), *i0 = (vf *)(oim + k * sG);
            vf *r1 = (vf *)(ore + (k + m) * sG), *i1 = (vf *)(oim + (k + m) * sG);
            vf *r2 = (vf *)(ore + (k + 2 * m) * sG), *i2 = (vf *)(oim + (k + 2 * m) * sG);
            vf *r3 = (vf *)(ore + (k + 3 * m) * sG), *i3 = (vf *)(oim + (k + 3 * m) * sG);
            for (int g = 0; g < nv; g++) {
                const vf a1r = r1[g] * w1.re - i1[g] * w1.im, a1i = r1[g] * w1.im + i1[g] * w1.re;
                const vf a2r = r2[g] * w2.re - i2[g] * w2.im, a2i = r2[g] * w2.im + i2[g] * w2.re;
                const vf a3r = r3[g] * w3.re - i3[g] * w3.im, a3i = r3[g] * w3.im + i3[g] * w3.re;
                const vf s02r = r0[g] + a2r, s02i = i0[g] + a2i, d02r = r0[g] - a2r, d02i = i0[g] - a2i;
                const vf s13r = a1r + a3r, s13i = a1i + a3i, d13r = a1r - a3r, d13i = a1i - a3i;
                /* inverse direction: d13 times +i */
                r0[g] = s02r + s13r; i0[g] = s02i + s13i;
                r2[g] = s02r - s13r; i2[g] = s02i - s13i;
                r1[g] = d02r - d13i; i1[g] = d02i + d13r;
                r3[g] = d02r + d13i; i3[g] = d02i - d13r;
            }
        }
    } else if (r == 3) {
        const float c = -0.5f, sn = 0.866025403784438647f;  /* e^{2 pi i / 3} */
        for (int k = 0; k < m; k++) {
            const cpx w1 = tw[k * twstep], w2 = tw[2 * k * twstep];
            vf *r0 = (vf *)(ore + k * sG), *i0 = (vf *)(oim + k * sG);
            vf *r1 = (vf *)(ore + (k + m) * sG), *i1 = (vf *)(oim + (k + m) * sG);
            vf *r2 = (vf *)(ore + (k + 2 * m) * sG), *i2 = (vf *)(oim + (k + 2 * m) * sG);
            for (int g = 0; g < nv; g++) {
                const vf a1r = r1[g] * w1.re - i1[g] * w1.im, a1i = r1[g] * w1.im + i1[g] * w1.re;
                const vf a2r = r2[g] * w2.re - i2[g] * w2.im, a2i = r2[g] * w2.im + i2[g] * w2.re;
                const vf sr = a1r + a2r, si = a1i + a2i, dr = a1r - a2r, di = a1i - a2i;
                const vf mr = r0[g] + c * sr, mi = i0[g] + c * si;
                r0[g] += sr; i0[g] += si;
                /* inverse direction: y1 = x0 + w a1 + w^2 a2 with w = e^{+2 pi i / 3} */
                r1[g] = mr - sn * di; i1[g] = mi + sn * dr;
                r2[g] = mr + sn * di; i2[g] = mi - sn * dr;
            }
        }
    } else {
        float *tr = (float *)p->scratch, *ti = tr + (size_t)r * sG;  /* 2 r G floats */
        for (int k = 0; k < m; k++) {
            for (int q = 0; q < r; q++) {
                const cpx w = tw[(size_t)q * k * twstep % N];
                const float *xr = ore + (k + q * m) * sG, *xi = oim + (k + q * m) * sG;
                for (int g = 0; g < G; g++) {
                    tr[q * sG + g] = xr[g] * w.re - xi[g] * w.im;
                    ti[q * sG + g] = xr[g] * w.im + xi[g] * w.re;
                }
            }
            for (int u = 0; u < r; u++) {
                float *yr = ore + (k + u * m) * sG, *yi = oim + (k + u * m) * sG;
                for (int g = 0; g < G; g++) { yr[g] = 0.0f; yi[g] = 0.0f; }
                for (int q = 0; q < r; q++) {
                    const cpx w = tw[(size_t)q * u * m * twstep % N];
                    for (int g = 0; g < G; g++) {
                        yr[g] += tr[q * sG + g] * w.re - ti[q * sG + g] * w.im;
                        yi[g] += tr[q * sG + g] * w.im + ti[q * sG + g] * w.re;
                    }
                }
            }
        }
    }
}

/* G signals (a multiple of VL, at most FFT_GROUP): (ire, iim) -> (ore, oim), each N x G */
static void ifft_many(fft_plan *p, float *ore, float *oim, const float *ire, const float *iim, int G) {
    fft_rec(p, ore, oim, ire, iim, p->n, 1, 0, 1, G);
}

/* ---------------------------------------------------------------------------------------- */

static void free_dense(dense *l) { free(l->w); free(l->b); }

void lg_free(lg_synth *s) {
    if (!s) return;
    free_dense(&s->inp); free_dense(&s->condl); free_dense(&s->skip); free_dense(&s->h1);
    free_dense(&s->h2); free_dense(&s->bandl);
    for (int l = 0; s->gate && l < s->d.layers; l++) free_dense(&s->gate[l]);
    for (int l = 0; s->res && l < s->d.layers; l++) free_dense(&s->res[l]);
    free(s->dil); free(s->ring_off); free(s->gate); free(s->res); free(s->weights);
    free(s->bands); free(s->zeros); free(s->window); free(s->alpha); free(s->lin); free(s->quad); free(s->phasor);
    free_fft(&s->table_fft); free_fft(&s->grain_fft);
    free(s->z); free(s->chz); free(s->ring); free(s->ring_frame); free(s->channel);
    free(s->f0_note); free(s->phase); free(s->f0_prev); free(s->velocity); free(s->mask); free(s->ngain); free(s->rms);
    free(s->t_on); free(s->t_off); free(s->fading); free(s->table); free(s->tail);
    free(s->x_cond); free(s->x_h); free(s->x_bias); free(s->x_gate); free(s->x_a); free(s->x_tmp);
    free(s->x_outs); free(s->x_s); free(s->x_hh); free(s->x_raw); free(s->audio); free(s->tab_re); free(s->tab_im); free(s->grain_re); free(s->grain_im);
    free(s->out_re); free(s->out_im); free(s->f0_cur);
    free(s->newtab); free(s->x_noise); free(s->x_g); free(s->amps);
    free(s);
}

size_t lg_weight_count(const lg_dims *d) {
    const size_t C = d->channels, L = d->layers, Cc = d->z_dim + d->n_note, H = d->head;
    const size_t NC = 2 + d->n_harmonics + d->noise_bands;
    return Cc * C + C + Cc * 2 * C * L + 2 * C * L + L * (2 * C * 2 * C + 2 * C) + (L - 1) * (C * C + C)
        + C * L * C + C + C * H + H + H * NC + NC;
}

/* a layer from the flat weights at *p (w (in, out) then b (out)), padded; advances *p */
static int take(dense *l, const float **p, int in, int out) {
    const int pad = (out + OB - 1) / OB * OB;
    l->in = in; l->out = pad;
    l->w = alloc_f((size_t)in * pad);
    l->b = alloc_f(pad);
    if (!l->w || !l->b) return -1;
    for (int i = 0; i < in; i++) memcpy(l->w + (size_t)i * pad, *p + (size_t)i * out, sizeof(float) * out);
    memcpy(l->b, *p + (size_t)in * out, sizeof(float) * out);
    *p += (size_t)in * out + out;
    return 0;
}

lg_synth *lg_new(const lg_dims *d, const int *dilations, const float *weights, size_t n_weights,
                 const float *bands, const float *window) {
    if (d->voices < 1 || d->layers < 1 || d->layers > 64 || d->n_note > 32 || d->hop < 1
        || n_weights != lg_weight_count(d) || d->n_harmonics >= TABLE / 2)
        return NULL;
    lg_synth *s = (lg_synth *)calloc(1, sizeof(lg_synth));
    if (!s) return NULL;
    s->d = *d;
    const int C = d->channels, L = d->layers, Z = d->z_dim, K = d->n_harmonics, B = d->noise_bands;
    const int V = d->voices, H = d->head, NC = 2 + K + B;
    s->cond = Z + d->n_note;
    s->hop = d->hop;
    s->bins = d->hop + 1;
    s->dil = (int *)malloc(sizeof(int) * L);
    s->ring_off = (int *)malloc(sizeof(int) * L);
    s->gate = (dense *)calloc(L, sizeof(dense));
    s->res = (dense *)calloc(L, sizeof(dense));
    s->weights = alloc_f(n_weights);
    if (!s->dil || !s->ring_off || !s->gate || !s->res || !s->weights) goto fail;
    s->ring_rows = 0;
    for (int l = 0; l < L; l++) {
        if (dilations[l] < 1) goto fail;
        s->dil[l] = dilations[l];
        s->ring_off[l] = s->ring_rows;
        s->ring_rows += dilations[l];
    }
    memcpy(s->weights, weights, sizeof(float) * n_weights);
    const float *p = s->weights;
    const int Cc = s->cond;
    int bad = take(&s->inp, &p, Cc, C) | take(&s->condl, &p, Cc, 2 * C * L);
    for (int l = 0; l < L; l++) bad |= take(&s->gate[l], &p, 2 * C, 2 * C);
    for (int l = 0; l < L - 1; l++) bad |= take(&s->res[l], &p, C, C);
    bad |= take(&s->skip, &p, C * L, C) | take(&s->h1, &p, C, H) | take(&s->h2, &p, H, NC);
    if (bad) goto fail;

    const int hop = s->hop, bins = s->bins, sr = d->sample_rate;
    s->bands = alloc_f((size_t)B * bins);
    s->window = alloc_f(2 * hop);
    s->alpha = alloc_f(hop);
    s->lin = (double *)malloc(sizeof(double) * hop);
    s->quad = (double *)malloc(sizeof(double) * hop);
    s->phasor = (cpx *)malloc(sizeof(cpx) * PHASES);
    if (!s->bands || !s->window || !s->alpha || !s->lin || !s->quad || !s->phasor) goto fail;
    memcpy(s->bands, bands, sizeof(float) * (size_t)B * bins);
    const float *bp = s->bands;
    s->zeros = alloc_f((size_t)B * bins + bins);  /* the band matrix, then a zero bias */
    if (!s->zeros) goto fail;
    memcpy(s->zeros, bands, sizeof(float) * (size_t)B * bins);
    bp = s->zeros;
    if (take(&s->bandl, &bp, B, bins)) goto fail;
    memcpy(s->window, window, sizeof(float) * 2 * hop);
    for (int i = 0; i < hop; i++) {
        double si = i;
        s->alpha[i] = (float)(si / hop);
        s->lin[i] = si / sr;
        s->quad[i] = si * (si - 1) / (2.0 * hop * sr);
    }
    for (int i = 0; i < PHASES; i++) {
        double a = 2.0 * M_PI * i / PHASES;
        s->phasor[i].re = (float)cos(a);
        s->phasor[i].im = (float)sin(a);
    }
    if (plan_fft(&s->table_fft, TABLE) || plan_fft(&s->grain_fft, 2 * hop)) goto fail;

    s->z = alloc_f((size_t)V * Z);
    s->chz = alloc_f(16 * (size_t)Z);
    s->ring = alloc_f((size_t)V * s->ring_rows * C);
    s->ring_frame = (int64_t *)calloc(V, sizeof(int64_t));
    s->channel = (int *)calloc(V, sizeof(int));
    s->f0_note = (double *)calloc(V, sizeof(double));
    s->phase = (double *)calloc(V, sizeof(double));
    s->f0_prev = (double *)calloc(V, sizeof(double));
    s->velocity = alloc_f(V);
    s->mask = alloc_f((size_t)V * K);
    s->ngain = alloc_f((size_t)V * B);
    s->rms = alloc_f((size_t)V);
    s->t_on = (int64_t *)calloc(V, sizeof(int64_t));
    s->t_off = (int64_t *)calloc(V, sizeof(int64_t));
    s->fading = (int *)calloc(V, sizeof(int));
    s->table = alloc_f((size_t)V * (TABLE + 1));
    s->tail = alloc_f((size_t)V * hop);
    const size_t R = V;
    s->x_cond = alloc_f(R * Cc);
    s->x_h = alloc_f(R * s->inp.out);  /* rows as wide as the layer's padded output */
    s->x_bias = alloc_f(R * s->condl.out);
    s->x_gate = alloc_f(R * 2 * C);
    s->x_a = alloc_f(R * s->gate[0].out);
    s->x_tmp = alloc_f(R * s->inp.out);
    s->x_outs = alloc_f(R * C * L);
    s->x_s = alloc_f(R * s->skip.out);
    s->x_hh = alloc_f(R * s->h1.out);
    s->x_raw = alloc_f(R * s->h2.out);
    s->audio = alloc_f(R * hop);
    const size_t nmax = (size_t)(TABLE > 2 * hop ? TABLE : 2 * hop) * FFT_GROUP;
    s->tab_re = alloc_f(nmax); s->tab_im = alloc_f(nmax);
    s->grain_re = alloc_f(nmax); s->grain_im = alloc_f(nmax);
    s->out_re = alloc_f(nmax); s->out_im = alloc_f(nmax);
    s->f0_cur = (double *)calloc(R, sizeof(double));
    s->newtab = alloc_f(TABLE + 1);
    s->x_noise = alloc_f(R * B);
    s->x_g = alloc_f(R * s->bandl.out);
    s->amps = alloc_f(K);
    if (!s->z || !s->chz || !s->ring || !s->ring_frame || !s->channel || !s->f0_note || !s->phase
        || !s->f0_prev || !s->velocity || !s->mask || !s->ngain || !s->rms || !s->t_on || !s->t_off || !s->fading || !s->table
        || !s->tail || !s->x_cond || !s->x_h || !s->x_bias || !s->x_gate || !s->x_a || !s->x_tmp
        || !s->x_outs || !s->x_s || !s->x_hh || !s->x_raw || !s->audio || !s->tab_re || !s->tab_im || !s->grain_re
        || !s->grain_im || !s->out_re || !s->out_im || !s->f0_cur || !s->newtab
        || !s->x_noise || !s->x_g || !s->amps)
        goto fail;
    for (int v = 0; v < V; v++) { s->t_off[v] = -1; s->f0_prev[v] = 440.0; s->f0_note[v] = 440.0; }
    return s;
fail:
    lg_free(s);
    return NULL;
}

void lg_set_channel_z(lg_synth *s, int channel, const float *z) {
    if (channel < 0 || channel > 15) return;
    memcpy(s->chz + (size_t)channel * s->d.z_dim, z, sizeof(float) * s->d.z_dim);
}

void lg_voice_start(lg_synth *s, int v, int channel, double f0, double f0_max, float velocity) {
    const lg_dims *d = &s->d;
    if (v < 0 || v >= d->voices || channel < 0 || channel > 15) return;
    const int C = d->channels, K = d->n_harmonics, Z = d->z_dim;
    memset(s->ring + (size_t)v * s->ring_rows * C, 0, sizeof(float) * (size_t)s->ring_rows * C);
    s->ring_frame[v] = 0;
    s->phase[v] = 0.0;
    memset(s->table + (size_t)v * (TABLE + 1), 0, sizeof(float) * (TABLE + 1));
    memset(s->tail + (size_t)v * s->hop, 0, sizeof(float) * s->hop);
    s->f0_prev[v] = f0;
    s->f0_note[v] = f0;
    for (int k = 0; k < K; k++)
        s->mask[(size_t)v * K + k] = f0_max * (k + 1) < 0.5 * d->sample_rate ? 1.0f : 0.0f;
    for (int b = 0; b < d->noise_bands; b++)
        s->ngain[(size_t)v * d->noise_bands + b] = 1.0f;
    s->velocity[v] = velocity;
    s->channel[v] = channel;
    s->t_on[v] = 0;
    s->t_off[v] = -1;
    s->fading[v] = 0;
    s->rms[v] = 0.0f;
    memcpy(s->z + (size_t)v * Z, s->chz + (size_t)channel * Z, sizeof(float) * Z);
}

void lg_voice_eq(lg_synth *s, int v, const float *hgain, const float *ngain) {
    const lg_dims *d = &s->d;
    if (v < 0 || v >= d->voices) return;
    for (int k = 0; k < d->n_harmonics; k++) s->mask[(size_t)v * d->n_harmonics + k] *= hgain[k];
    memcpy(s->ngain + (size_t)v * d->noise_bands, ngain, sizeof(float) * d->noise_bands);
}

void lg_voice_release(lg_synth *s, int v) { if (v >= 0 && v < s->d.voices) s->t_off[v] = 0; }
void lg_voice_fade(lg_synth *s, int v) { if (v >= 0 && v < s->d.voices) s->fading[v] = 1; }

void lg_voice_state(const lg_synth *s, int v, lg_voice_info *out) {
    if (v < 0 || v >= s->d.voices) return;
    out->fading = s->fading[v];
    out->channel = s->channel[v];
    out->t_on = s->t_on[v];
    out->t_off = s->t_off[v];
    out->ring_frame = s->ring_frame[v];
    out->f0 = s->f0_note[v];
    out->velocity = s->velocity[v];
    out->rms = s->rms[v];
}

void lg_voice_z(const lg_synth *s, int v, float *z) {
    if (v >= 0 && v < s->d.voices) memcpy(z, s->z + (size_t)v * s->d.z_dim, sizeof(float) * s->d.z_dim);
}

/* the decoder step for the J voices in slots: raw controls into x_raw (J rows of NC) */
LG_CLONES
static void decoder(lg_synth *s, const int *slots, int J) {
    const lg_dims *d = &s->d;
    const int C = d->channels, L = d->layers, Z = d->z_dim, Cc = s->cond;
    /* conditioning */
    for (int j = 0; j < J; j++) {
        const int v = slots[j];
        float *z = s->z + (size_t)v * Z;
        const float *target = s->chz + (size_t)s->channel[v] * Z;
        float *c = s->x_cond + (size_t)j * Cc;
        for (int i = 0; i < Z; i++) {
            z[i] = z[i] + (float)d->glide * (target[i] - z[i]);
            c[i] = z[i];
        }
        const double t_on = s->t_on[v] * (double)d->frame_s;
        const int held = s->t_off[v] < 0;
        const double t_off = held ? -1.0 : s->t_off[v] * (double)d->frame_s;
        float *f = c + Z;
        int k = 0;
        f[k++] = (float)((log(s->f0_note[v]) - d->log_f0_center) / d->log_f0_scale);
        f[k++] = (float)(s->velocity[v] / 127.0);
        f[k++] = held ? 1.0f : 0.0f;
        for (int i = 0; i < d->n_onset; i++) f[k++] = (float)exp(-(t_on > 0 ? t_on : 0.0) / d->onset_taus[i]);
        for (int i = 0; i < d->n_release; i++)
            f[k++] = held ? 0.0f : (float)exp(-(t_off > 0 ? t_off : 0.0) / d->release_taus[i]);
    }
    const int hs = s->inp.out, bs = s->condl.out, as = s->gate[0].out;  /* row strides */
    gemm(s->x_cond, J, Cc, &s->inp, s->x_h, hs);
    gemm(s->x_cond, J, Cc, &s->condl, s->x_bias, bs);
    for (int l = 0; l < L; l++) {
        for (int j = 0; j < J; j++) {
            float *g = s->x_gate + (size_t)j * 2 * C;
            float *h = s->x_h + (size_t)j * hs;
            const int v = slots[j];
            float *row = s->ring + ((size_t)v * s->ring_rows + s->ring_off[l]
                                    + (size_t)(s->ring_frame[v] % s->dil[l])) * C;
            memcpy(g, row, sizeof(float) * C);  /* the layer's input d_l frames ago ... */
            memcpy(row, h, sizeof(float) * C);  /* ... replaced by its input now */
            memcpy(g + C, h, sizeof(float) * C);
        }
        gemm(s->x_gate, J, 2 * C, &s->gate[l], s->x_a, as);
        for (int j = 0; j < J; j++) {
            float *a = s->x_a + (size_t)j * as;
            const float *bias = s->x_bias + (size_t)j * bs + (size_t)l * 2 * C;
            float *o = s->x_outs + (size_t)j * C * L + (size_t)l * C;
            int i = 0;
            for (; i + VL <= C; i += VL) {
                vf ta, sa, tb, sb;
                memcpy(&ta, a + i, sizeof ta); memcpy(&tb, bias + i, sizeof tb);
                memcpy(&sa, a + C + i, sizeof sa); memcpy(&sb, bias + C + i, sizeof sb);
                const vf y = vtanh(ta + tb) * vsigmoid(sa + sb);
                memcpy(o + i, &y, sizeof y);
            }
            for (; i < C; i++) o[i] = fast_tanh(a[i] + bias[i]) * fast_sigmoid(a[C + i] + bias[C + i]);
        }
        if (l < L - 1) {
            /* next input = current + res(o): gemm of the outputs block, rows C * L apart */
            gemm(s->x_outs + (size_t)l * C, J, C * L, &s->res[l], s->x_tmp, hs);
            for (size_t i = 0; i < (size_t)J * hs; i++) s->x_h[i] += s->x_tmp[i];
        }
    }
    for (int j = 0; j < J; j++) s->ring_frame[slots[j]] += 1;
    const int ss = s->skip.out, s1 = s->h1.out;
    gemm(s->x_outs, J, C * L, &s->skip, s->x_s, ss);
    for (size_t i = 0; i < (size_t)J * ss; i++) s->x_s[i] = s->x_s[i] > 0 ? s->x_s[i] : 0.0f;
    gemm(s->x_s, J, ss, &s->h1, s->x_hh, s1);
    for (size_t i = 0; i < (size_t)J * s1; i++) s->x_hh[i] = s->x_hh[i] > 0 ? s->x_hh[i] : 0.0f;
    gemm(s->x_hh, J, s1, &s->h2, s->x_raw, s->h2.out);
}

/* DDSP's exp_sigmoid: 2 sigmoid(x)^ln(10) + 1e-7 */
static inline float exp_sigmoid(float x) {
    return 2.0f * powf(fast_sigmoid(x), 2.302585092994046f) + 1e-7f;
}

/* voice j's controls: harmonic amplitudes into column `lane` of the table's spectrum (lanes
   columns; the real part for the first voice of a pair, the imaginary for the second), its
   f0 into f0_cur[j] */
static inline __attribute__((always_inline)) void harmonic_controls(lg_synth *s, int j, int v, int lane, int lanes,
                                                                    int second) {
    const lg_dims *d = &s->d;
    const int K = d->n_harmonics;
    const float *raw = s->x_raw + (size_t)j * s->h2.out;
    const float amp = exp_sigmoid(raw[0]);
    float mx = raw[1];
    for (int k = 1; k < K; k++) mx = raw[1 + k] > mx ? raw[1 + k] : mx;
    int k0 = 0;
    for (; k0 + VL <= K; k0 += VL) {
        vf x;
        memcpy(&x, raw + 1 + k0, sizeof x);
        const vf y = vexp(x - mx);
        memcpy(s->amps + k0, &y, sizeof y);
    }
    for (int k = k0; k < K; k++) s->amps[k] = fast_exp(raw[1 + k] - mx);
    float total = 0.0f;
    for (int k = 0; k < K; k++) total += s->amps[k];
    float kept = 0.0f;
    const float *mask = s->mask + (size_t)v * K;
    for (int k = 0; k < K; k++) {
        float p = s->amps[k] / total;
        p = (p > 1e-7f ? p : 0.0f) * mask[k];  /* shares below -140 dB: no denormals */
        s->amps[k] = p;
        kept += p;
    }
    const float norm = amp / (kept > 1e-7f ? kept : 1e-7f);
    /* the table is sum_k a_k sin(2 pi k x): the imaginary part of the inverse FFT of a_k */
    float *spec = second ? s->tab_im : s->tab_re;
    for (int k = 0; k < K; k++) spec[(size_t)(k + 1) * lanes + lane] = s->amps[k] * norm;
    const float dev = d->max_dev_cents * fast_tanh(raw[1 + K]);
    /* the ratio in single precision, as the reference (hnsynth.f0_of on float32 deviations) */
    s->f0_cur[j] = s->f0_note[v] * (double)powf(2.0f, dev / 1200.0f);
}

/* the harmonic part of voice j. Two voices share a lane: z = IFFT(A + iB) with A and B real,
   so a = IFFT(A) has a[N-n] = conj(a[n]) and the tables (imaginary parts) separate:
   Im a[n] = (Im z[n] - Im z[N-n]) / 2, Im b[n] = (Re z[N-n] - Re z[n]) / 2. */
static inline __attribute__((always_inline)) void harmonic_part(lg_synth *s, int j, int v, int lane, int lanes,
                                                                int second, float *out) {
    const int hop = s->hop;
    const double sr = s->d.sample_rate;
    float *nt = s->newtab;
    const float *zr = s->out_re + lane, *zi = s->out_im + lane;
    if (!second) {
        nt[0] = 0.0f;
        for (int i = 1; i < TABLE; i++) nt[i] = 0.5f * (zi[(size_t)i * lanes] - zi[(size_t)(TABLE - i) * lanes]);
    } else {
        nt[0] = 0.0f;
        for (int i = 1; i < TABLE; i++) nt[i] = 0.5f * (zr[(size_t)(TABLE - i) * lanes] - zr[(size_t)i * lanes]);
    }
    nt[TABLE] = nt[0];
    /* phase with f0 moving linearly from the previous frame's */
    float *old = s->table + (size_t)v * (TABLE + 1);
    const double f0 = s->f0_cur[j], f_prev = s->f0_prev[v], df = f0 - f_prev, ph0 = s->phase[v];
    for (int i = 0; i < hop; i++) {
        double ph = ph0 + f_prev * s->lin[i] + df * s->quad[i];
        double x = (ph - floor(ph)) * TABLE;
        int idx = (int)x;
        idx = idx < TABLE - 1 ? idx : TABLE - 1;
        const float frac = (float)(x - idx);
        const float a_old = old[idx] + frac * (old[idx + 1] - old[idx]);
        const float a_new = nt[idx] + frac * (nt[idx + 1] - nt[idx]);
        out[i] = (a_new - a_old) * s->alpha[i] + a_old;
    }
    double ph = fmod(ph0 + f_prev * hop / sr + df * (hop - 1) / (2.0 * sr), 1.0);
    s->phase[v] = ph < 0 ? ph + 1.0 : ph;
    s->f0_prev[v] = f0;
    memcpy(old, nt, sizeof(float) * (TABLE + 1));
}

/* voice j's noise grain spectrum (random phases) into column `lane` of grain_re/im, as the
   full Hermitian spectrum of a real grain. Two voices share a lane: Z = S1 + i S2, so the
   inverse FFT is grain1 + i grain2 (times sqrt(N)). */
static inline __attribute__((always_inline)) void noise_spectrum(lg_synth *s, int j, const float *uniforms, int lane,
                                                                 int lanes, int second) {
    const int bins = s->bins, N = 2 * s->hop;
    const float *g = s->x_g + (size_t)j * s->bandl.out;
    float *zr = s->grain_re + lane, *zi = s->grain_im + lane;
    for (int b = 0; b < bins; b++) {
        const cpx ph = s->phasor[(int)(uniforms[b] * PHASES) & (PHASES - 1)];
        const float a = g[b] * ph.re, c = g[b] * ph.im;  /* S(b) = a + ic */
        const size_t lo = (size_t)b * lanes, hi = (size_t)((N - b) % N) * lanes;
        if (b == 0 || b == bins - 1) {  /* DC and Nyquist: their real parts only */
            if (!second) zr[lo] = a; else zi[lo] = a;
        } else if (!second) {  /* S1(b) = a + ic, S1(N-b) = a - ic */
            zr[lo] = a; zi[lo] = c; zr[hi] = a; zi[hi] = -c;
        } else {  /* plus i S2: (a + ic) i = -c + ia at b, (a - ic) i = c + ia at N-b */
            zr[lo] -= c; zi[lo] += a; zr[hi] += c; zi[hi] += a;
        }
    }
}

static inline __attribute__((always_inline)) void noise_part(lg_synth *s, int v, int lane, int lanes, int second,
                                                             float *out) {
    const int hop = s->hop;
    float *tail = s->tail + (size_t)v * hop;
    const float *z = (second ? s->out_im : s->out_re) + lane;
    const float scale = s->d.noise_scale, on = 1.0f / sqrtf((float)(2 * hop));
    for (int i = 0; i < hop; i++) {
        const float first = z[(size_t)i * lanes] * on * s->window[i];
        out[i] += (tail[i] + first) * scale;
        tail[i] = z[(size_t)(hop + i) * lanes] * on * s->window[hop + i];
    }
}

/* the audio of the J voices (rows of s->audio) from their raw controls, FFT_GROUP at a time */
LG_CLONES
static void synthesize(lg_synth *s, const int *slots, int J, const float *uniforms) {
    const int hop = s->hop, bins = s->bins, K = s->d.n_harmonics, B = s->d.noise_bands;
    if (s->d.noise_scale > 0.0f) {  /* every voice's bin gains: band gains x the band matrix */
        for (int j = 0; j < J; j++) {
            float *x = s->x_noise + (size_t)j * B;
            const float *raw = s->x_raw + (size_t)j * s->h2.out + 2 + K;
            const float *ng = s->ngain + (size_t)slots[j] * B;
            for (int n = 0; n < B; n++) x[n] = exp_sigmoid(raw[n] - 5.0f) * ng[n];
        }
        gemm(s->x_noise, J, B, &s->bandl, s->x_g, s->bandl.out);
    }
    const int per = 2 * FFT_GROUP;  /* voices per FFT call: two per lane */
    for (int g0 = 0; g0 < J; g0 += per) {
        const int G = J - g0 < per ? J - g0 : per;
        const int lanes = G <= 2 * VL ? VL : FFT_GROUP;
        if (lanes != s->tab_lanes) {  /* the rows never written (above K) stay 0 */
            const size_t nmax = (size_t)(TABLE > 2 * hop ? TABLE : 2 * hop) * FFT_GROUP;
            memset(s->tab_re, 0, sizeof(float) * nmax);
            memset(s->tab_im, 0, sizeof(float) * nmax);
            s->tab_lanes = lanes;
        }
        for (int q = 0; q < 2 * lanes; q++) {  /* voice g0 + q: lane q / 2, the pair's q % 2 */
            if (q < G) {
                harmonic_controls(s, g0 + q, slots[g0 + q], q / 2, lanes, q % 2);
            } else {
                float *spec = q % 2 ? s->tab_im : s->tab_re;
                for (int k = 0; k < K; k++) spec[(size_t)(k + 1) * lanes + q / 2] = 0.0f;
            }
        }
        ifft_many(&s->table_fft, s->out_re, s->out_im, s->tab_re, s->tab_im, lanes);
        for (int q = 0; q < G; q++)
            harmonic_part(s, g0 + q, slots[g0 + q], q / 2, lanes, q % 2, s->audio + (size_t)(g0 + q) * hop);
        if (s->d.noise_scale > 0.0f) {
            const int N = 2 * hop;
            memset(s->grain_re, 0, sizeof(float) * (size_t)N * lanes);
            memset(s->grain_im, 0, sizeof(float) * (size_t)N * lanes);
            for (int q = 0; q < G; q++)
                noise_spectrum(s, g0 + q, uniforms + (size_t)(g0 + q) * bins, q / 2, lanes, q % 2);
            ifft_many(&s->grain_fft, s->out_re, s->out_im, s->grain_re, s->grain_im, lanes);
            for (int q = 0; q < G; q++)
                noise_part(s, slots[g0 + q], q / 2, lanes, q % 2, s->audio + (size_t)(g0 + q) * hop);
        } else {
            for (int q = 0; q < G; q++) memset(s->tail + (size_t)slots[g0 + q] * hop, 0, sizeof(float) * hop);
        }
    }
}

int lg_render(lg_synth *s, const int *slots, int J, const float *uniforms, float *mix, int *events) {
    const lg_dims *d = &s->d;
    const int hop = s->hop;
    memset(mix, 0, sizeof(float) * hop);
    if (J <= 0) return 0;
    if (J > d->voices) J = d->voices;
    decoder(s, slots, J);
    synthesize(s, slots, J, uniforms);
    int n_events = 0;
    for (int j = 0; j < J; j++) {
        const int v = slots[j];
        float *a = s->audio + (size_t)j * hop;
        if (s->fading[v])
            for (int i = 0; i < hop; i++) a[i] *= hop > 1 ? 1.0f - (float)i / (float)(hop - 1) : 0.0f;
        double sq = 0.0;
        for (int i = 0; i < hop; i++) { mix[i] += a[i]; sq += (double)a[i] * a[i]; }
        const float rms = (float)sqrt(sq / hop);
        s->rms[v] = rms;
        /* the frame's bookkeeping */
        s->t_on[v] += 1;
        if (s->t_off[v] >= 0) s->t_off[v] += 1;
        int ev = LG_NONE;
        if (s->fading[v]) {
            s->fading[v] = 0;
            ev = LG_FADED;
        } else if (s->t_off[v] >= 0) {
            const double released_s = s->t_off[v] * (double)d->frame_s;
            const double limit = d->release_max_s < d->trained_release_s ? d->release_max_s : d->trained_release_s;
            if (released_s > limit) {
                s->fading[v] = 1;  /* out over the next frame, then freed: no click */
                ev = LG_EXPIRED;
            } else if (released_s > d->min_release_s && rms < d->silent_rms) {
                ev = LG_SILENT;
            }
        }
        events[j] = ev;
        n_events += ev != LG_NONE;
    }
    for (int i = 0; i < hop; i++) mix[i] *= d->gain;
    return n_events;
}

const char *lg_isa(void) {
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return "x86-64-v4 (AVX-512)";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "x86-64-v3 (AVX2, FMA)";
    return "x86-64 (SSE2)";
#else
    return "portable C";
#endif
}
