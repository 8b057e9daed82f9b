/* livegen's WaveNet decoder step kernel: renders a block of samples for a set of voices.
 *
 * Built by livegen/engine/kernel.py with the machine's own C compiler and loaded with
 * ctypes (which releases the GIL for the call, so two threads can render two halves of
 * the voices at once). It executes the weights of the exported decoder; the ONNX Runtime
 * engine, which runs the same weights from the same file, is its reference.
 *
 * One step for one voice, with h the residual stream (R), e the excitation (E):
 *   h = emb[prev] + We_in^T e
 *   for each layer l with dilation d:
 *     a = cond[l] + Wp_l^T hist_l[t - d] + Wc_l^T h + We_l^T e      (2G)
 *     hist_l[t] = h
 *     g = tanh(a[:G]) * sigmoid(a[G:])
 *     skip += Ws_l^T g;  h += Wr_l^T g
 *   y = relu(skip + b_skip); y = relu(W1^T y + b1); logits = W2^T y + b2   (Q)
 *   prev = the class drawn from softmax(logits / T) with the pre-drawn uniform u
 * Weights are stored input-major (W^T): row i holds what input i adds to every output.
 * The history of layer l is a ring of d rows of R; row t mod d holds h(t - d) until it is
 * overwritten with h(t). Nothing is ever copied whole.
 */
#include <math.h>
#include <stddef.h>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif
#include <stdint.h>
#include <string.h>

#define MAXC 1024 /* largest channel count (R, 2G, S, H) and class count (Q) */

typedef struct {
    int32_t R, G, S, H, E, L, Q, frame;
    const int32_t *dil;     /* L */
    const float *emb;       /* Q x R */
    const float *w_exc_in;  /* E x R, or NULL */
    const float *w_past;    /* L x R x 2G */
    const float *w_cur;     /* L x R x 2G */
    const float *w_exc;     /* L x E x 2G, or NULL */
    const float *w_res;     /* L x G x R */
    const float *w_skip;    /* L x G x S */
    const float *b_skip;    /* S */
    const float *w_h1;      /* S x H */
    const float *b_h1;      /* H */
    const float *w_out;     /* H x Q */
    const float *b_out;     /* Q */
} lg_model;

/* exp(x) as 2^n * p(f), x log2(e) = n + f with |f| <= 1/2; p is a degree-5 polynomial
 * fitted (relative error 7.5e-8 on [-1/2, 1/2]) so that loops over it vectorise, which
 * libm's expf does not here. Inputs below -87 give ~0, as expf would. */
static inline float fast_exp(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    const float y = x * 1.44269504088896341f;
    const float n = __builtin_rintf(y);
    const float f = y - n;
    float p = 0.0013276467f;
    p = p * f + 0.0096755410f;
    p = p * f + 0.0555071346f;
    p = p * f + 0.2402212024f;
    p = p * f + 0.6931469440f;
    p = p * f + 1.0000001192f;
    const int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* out[0:O] += sum_i in[i] * W[i, 0:O]; four partial sums over i, so the multiply-adds of
 * consecutive rows do not wait on each other */
static inline void matvec_acc(float *restrict out, const float *restrict W, const float *restrict in,
                              int I, int O) {
    float a0[MAXC], a1[MAXC], a2[MAXC], a3[MAXC];
    for (int o = 0; o < O; o++) { a0[o] = out[o]; a1[o] = 0.0f; a2[o] = 0.0f; a3[o] = 0.0f; }
    int i = 0;
    for (; i + 3 < I; i += 4) {
        const float x0 = in[i], x1 = in[i + 1], x2 = in[i + 2], x3 = in[i + 3];
        const float *restrict w0 = W + (size_t)i * O, *restrict w1 = w0 + O, *restrict w2 = w1 + O,
                    *restrict w3 = w2 + O;
        for (int o = 0; o < O; o++) {
            a0[o] += w0[o] * x0;
            a1[o] += w1[o] * x1;
            a2[o] += w2[o] * x2;
            a3[o] += w3[o] * x3;
        }
    }
    for (; i < I; i++) {
        const float x = in[i];
        const float *restrict w = W + (size_t)i * O;
        for (int o = 0; o < O; o++) a0[o] += w[o] * x;
    }
    for (int o = 0; o < O; o++) out[o] = (a0[o] + a1[o]) + (a2[o] + a3[o]);
}

int64_t lg_history_size(const lg_model *m) {
    int64_t n = 0;
    for (int l = 0; l < m->L; l++) n += m->dil[l];
    return n * m->R;
}

/* Several voices at once: out[b][0:O] += sum_i in[b][i] * W[i, 0:O] for b < NB. Each row of
 * W is loaded once for all NB voices, and the NB sums are independent chains. */
#define NBMAX 4
static inline __attribute__((always_inline)) void matvec_multi(
    float out[][MAXC], const float *restrict W, const float *const in[], const int NB, int I, int O) {
    if (NB == 1) {
        matvec_acc(out[0], W, in[0], I, O);
        return;
    }
    for (int i = 0; i < I; i++) {
        const float *restrict w = W + (size_t)i * O;
        float x[NBMAX];
        for (int b = 0; b < NB; b++) x[b] = in[b][i];
        for (int o = 0; o < O; o++) {
            const float wo = w[o];
            for (int b = 0; b < NB; b++) out[b][o] += wo * x[b];
        }
    }
}

/* Draw a class from logits[0:Q] (overwritten): argmax at T <= 0, else the inverse CDF of
 * softmax(logits / T) at the uniform u. */
static inline int draw(float *logits, int Q, float T, float u) {
    int best = 0;
    for (int k = 1; k < Q; k++)
        if (logits[k] > logits[best]) best = k;
    if (T <= 0.0f) return best;
    const float inv = 1.0f / T, top = logits[best];
    float total = 0.0f;
    for (int k = 0; k < Q; k++) {
        logits[k] = fast_exp((logits[k] - top) * inv);
        total += logits[k];
    }
    const float target = u * total;
    float acc = 0.0f;
    for (int k = 0; k < Q; k++) {
        acc += logits[k];
        if (acc > target) return k;
    }
    return Q - 1;
}

/* Render N samples for NB voices in lockstep: voices[j] for j in js[0..NB). */
static inline __attribute__((always_inline)) void render_group(
    const lg_model *m, const int NB, const int32_t *voices, const int32_t *js, int32_t N, float *hist,
    int64_t *pos, int32_t *prev, const float *cond, const float *exc, const float *u,
    const float *temp, int32_t *out_q, float *out_logits) {
#ifdef LG_FIXED /* built for one model shape: constant sizes let the compiler keep sums in registers */
    const int R = LG_R, G = LG_G, G2 = 2 * LG_G, S = LG_S, H = LG_H, E = LG_E, L = m->L, Q = LG_Q;
#else
    const int R = m->R, G = m->G, G2 = 2 * m->G, S = m->S, H = m->H, E = m->E, L = m->L, Q = m->Q;
#endif
    const int64_t hsize = lg_history_size(m);
    const int frames = N / m->frame;
    float h[NBMAX][MAXC], a[NBMAX][MAXC], g[NBMAX][MAXC], skip[NBMAX][MAXC], y[NBMAX][MAXC];
    float logits[NBMAX][MAXC];
    float *vh[NBMAX], *ring[NBMAX];
    const float *e[NBMAX], *c[NBMAX], *hp[NBMAX], *gp[NBMAX], *pastp[NBMAX], *sp[NBMAX], *yp[NBMAX];
    int64_t t[NBMAX];
    int32_t q[NBMAX];
    for (int b = 0; b < NB; b++) {
        const int v = voices[js[b]];
        vh[b] = hist + (size_t)v * hsize;
        t[b] = pos[v];
        q[b] = prev[v];
        hp[b] = h[b];
        gp[b] = g[b];
        sp[b] = skip[b];
        yp[b] = y[b];
    }
    for (int n = 0; n < N; n++) {
        for (int b = 0; b < NB; b++) {
            const size_t j = (size_t)js[b];
            e[b] = exc + (j * N + n) * E;
            c[b] = cond + ((j * frames + n / m->frame) * L) * G2;
            memcpy(h[b], m->emb + (size_t)q[b] * R, sizeof(float) * R);
            memcpy(skip[b], m->b_skip, sizeof(float) * S);
            ring[b] = vh[b];
        }
        if (m->w_exc_in) matvec_multi(h, m->w_exc_in, e, NB, E, R);
        for (int l = 0; l < L; l++) {
            const int d = m->dil[l];
            float *past[NBMAX];
            for (int b = 0; b < NB; b++) {
                past[b] = ring[b] + (size_t)(t[b] % d) * R;
                pastp[b] = past[b];
                memcpy(a[b], c[b] + (size_t)l * G2, sizeof(float) * G2);
            }
            matvec_multi(a, m->w_past + (size_t)l * R * G2, pastp, NB, R, G2);
            matvec_multi(a, m->w_cur + (size_t)l * R * G2, hp, NB, R, G2);
            if (m->w_exc) matvec_multi(a, m->w_exc + (size_t)l * E * G2, e, NB, E, G2);
            for (int b = 0; b < NB; b++) {
                memcpy(past[b], h[b], sizeof(float) * R);
                for (int k = 0; k < G; k++) {
                    /* tanh(x) = 2 sigmoid(2x) - 1 */
                    const float th = 2.0f / (1.0f + fast_exp(-2.0f * a[b][k])) - 1.0f;
                    const float sg = 1.0f / (1.0f + fast_exp(-a[b][G + k]));
                    g[b][k] = th * sg;
                }
                ring[b] += (size_t)d * R;
            }
            matvec_multi(skip, m->w_skip + (size_t)l * G * S, gp, NB, G, S);
            matvec_multi(h, m->w_res + (size_t)l * G * R, gp, NB, G, R);
        }
        for (int b = 0; b < NB; b++) {
            for (int k = 0; k < S; k++) skip[b][k] = skip[b][k] > 0.0f ? skip[b][k] : 0.0f;
            memcpy(y[b], m->b_h1, sizeof(float) * H);
        }
        matvec_multi(y, m->w_h1, sp, NB, S, H);
        for (int b = 0; b < NB; b++) {
            for (int k = 0; k < H; k++) y[b][k] = y[b][k] > 0.0f ? y[b][k] : 0.0f;
            memcpy(logits[b], m->b_out, sizeof(float) * Q);
        }
        matvec_multi(logits, m->w_out, yp, NB, H, Q);
        for (int b = 0; b < NB; b++) {
            const size_t j = (size_t)js[b];
            if (out_logits) memcpy(out_logits + (j * N + n) * Q, logits[b], sizeof(float) * Q);
            q[b] = draw(logits[b], Q, temp[j], u[j * N + n]);
            out_q[j * N + n] = q[b];
            t[b]++;
        }
    }
    for (int b = 0; b < NB; b++) {
        const int v = voices[js[b]];
        pos[v] = t[b];
        prev[v] = q[b];
    }
}

/* Render N samples for the voices voices[j], j in [j0, j1), in groups of up to four voices
 * that share every weight load. The state arrays are indexed by voice id (hist: voice x
 * history_size, pos, prev); the per-block arrays by j:
 *   cond  J x (N / frame) x L x 2G     exc J x N x E     u J x N     temp J
 *   out_q J x N      out_logits J x N x Q (or NULL)
 */
void lg_render(const lg_model *m, const int32_t *voices, int32_t j0, int32_t j1, int32_t N,
               float *hist, int64_t *pos, int32_t *prev, const float *cond, const float *exc,
               const float *u, const float *temp, int32_t *out_q, float *out_logits) {
#ifdef LG_FIXED
    if (m->R != LG_R || m->G != LG_G || m->S != LG_S || m->H != LG_H || m->E != LG_E || m->Q != LG_Q)
        return;
#endif
#if defined(__SSE__)
    /* denormals flushed to zero while we render (they cost 100x in the recurrences); the
       caller's floating-point mode is restored before returning */
    const unsigned int csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8040);
#endif
    int32_t js[NBMAX];
    for (int j = j0; j < j1; j += NBMAX) {
        const int nb = j1 - j < NBMAX ? j1 - j : NBMAX;
        for (int b = 0; b < nb; b++) js[b] = j + b;
        switch (nb) {
            case 4: render_group(m, 4, voices, js, N, hist, pos, prev, cond, exc, u, temp, out_q, out_logits); break;
            case 3: render_group(m, 3, voices, js, N, hist, pos, prev, cond, exc, u, temp, out_q, out_logits); break;
            case 2: render_group(m, 2, voices, js, N, hist, pos, prev, cond, exc, u, temp, out_q, out_logits); break;
            default: render_group(m, 1, voices, js, N, hist, pos, prev, cond, exc, u, temp, out_q, out_logits); break;
        }
    }
#if defined(__SSE__)
    _mm_setcsr(csr);
#endif
}
