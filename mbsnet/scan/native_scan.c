/* The selective scan's no-grad forward in C: one pass over the states, kept in L1 cache.

   Shapes (row-major, float32): dt, dtu = dt*u, y: (b, l, d); At = A transposed: (n, d); B, C: (b, l, n).
       h[j, k] = exp(dt[t, k] * At[j, k]) * h[j, k] + dtu[t, k] * B[t, j]      h: (n, d), zero at t = 0
       y[t, k] = sum_j h[j, k] * C[t, j]
   for each of the b rows independently. The loop over k (the d channels, contiguous) is the
   vectorised one: built with -O3 -ffast-math -fopenmp-simd, GCC calls glibc's vector expf
   (libmvec). The sum over j runs in order j = 0..n-1 for every k.
   Returns 0, or 1 when the (n, d) state cannot be allocated. */
#include <stdlib.h>
#include <string.h>
#include <math.h>

int mbsnet_scan_forward_f32(const float *dt, const float *dtu, const float *At, const float *B,
                            const float *C, float *y, long b, long l, long d, long n) {
    float *h = (float *)malloc(sizeof(float) * (size_t)(n * d));
    if (h == NULL) return 1;
    for (long r = 0; r < b; r++) {
        memset(h, 0, sizeof(float) * (size_t)(n * d));
        for (long t = 0; t < l; t++) {
            const long row = (r * l + t);
            const float *dt_t = dt + row * d, *dtu_t = dtu + row * d;
            const float *B_t = B + row * n, *C_t = C + row * n;
            float *y_t = y + row * d;
            memset(y_t, 0, sizeof(float) * (size_t)d);
            for (long j = 0; j < n; j++) {
                const float b_j = B_t[j], c_j = C_t[j];
                const float *a_j = At + j * d;
                float *h_j = h + j * d;
#pragma omp simd
                for (long k = 0; k < d; k++) {
                    const float h_new = expf(dt_t[k] * a_j[k]) * h_j[k] + dtu_t[k] * b_j;
                    h_j[k] = h_new;
                    y_t[k] += h_new * c_j;
                }
            }
        }
    }
    free(h);
    return 0;
}

/* The gradients of y = <h, C> (the scan before its D skip and gate), recomputing the states.

   Inputs as above, with u (b, l, d) in place of dtu and dy (b, l, d) = dL/dy. Outputs (written, not
   accumulated): ddt, du (b, l, d); dB, dC (b, l, n); dAt (n, d) is ADDED to (callers zero it, and sum
   the partial dAt of separate row ranges). Per row: a forward pass keeps the state before every chunk
   of T steps; then chunk by chunk in reverse, the chunk's states are recomputed into a (T, n, d)
   buffer and the reverse recurrence runs (g: dL/dh_t, a_t = exp(dt_t A)):
       g_t    = dy_t C_t + a_{t+1} g_{t+1}
       dC_t   = sum_k dy_t h_t            dB_t  = sum_k g_t dt_t u_t
       ddt_t  = sum_j g_t (A a_t h_{t-1} + u_t B_t)     du_t = sum_j g_t dt_t B_t
       dA    += g_t dt_t a_t h_{t-1}
   (mamba-ssm's selective_scan_bwd_kernel computes the same terms.) Returns 0, or 1 when its buffers
   cannot be allocated: (l/T + T + 2) n d floats. */
int mbsnet_scan_backward_f32(const float *dt, const float *u, const float *At, const float *B, const float *C,
                             const float *dy, float *ddt, float *du, float *dB, float *dC, float *dAt,
                             long b, long l, long d, long n, long T) {
    const long chunks = (l + T - 1) / T, nd = n * d;
    float *starts = (float *)malloc(sizeof(float) * (size_t)(chunks * nd));
    float *H = (float *)malloc(sizeof(float) * (size_t)(T * nd));
    float *h = (float *)malloc(sizeof(float) * (size_t)nd), *carry = (float *)malloc(sizeof(float) * (size_t)nd);
    int status = (starts && H && h && carry) ? 0 : 1;
    for (long r = 0; r < b && status == 0; r++) {
        const long base = r * l;
        memset(h, 0, sizeof(float) * (size_t)nd);
        for (long t = 0; t < l; t++) {                                 /* the state before each chunk */
            if (t % T == 0) memcpy(starts + (t / T) * nd, h, sizeof(float) * (size_t)nd);
            const float *dt_t = dt + (base + t) * d, *u_t = u + (base + t) * d, *B_t = B + (base + t) * n;
            for (long j = 0; j < n; j++) {
                const float b_j = B_t[j];
                const float *a_j = At + j * d;
                float *h_j = h + j * d;
#pragma omp simd
                for (long k = 0; k < d; k++) h_j[k] = expf(dt_t[k] * a_j[k]) * h_j[k] + dt_t[k] * u_t[k] * b_j;
            }
        }
        memset(carry, 0, sizeof(float) * (size_t)nd);                  /* a_{t+1} g_{t+1}, zero after the end */
        for (long c = chunks - 1; c >= 0; c--) {
            const long s = c * T, e = s + T < l ? s + T : l;
            memcpy(h, starts + c * nd, sizeof(float) * (size_t)nd);
            for (long t = s; t < e; t++) {                             /* the chunk's states, recomputed */
                const float *dt_t = dt + (base + t) * d, *u_t = u + (base + t) * d, *B_t = B + (base + t) * n;
                float *H_t = H + (t - s) * nd;
                for (long j = 0; j < n; j++) {
                    const float b_j = B_t[j];
                    const float *a_j = At + j * d;
                    float *h_j = h + j * d, *out = H_t + j * d;
#pragma omp simd
                    for (long k = 0; k < d; k++) {
                        h_j[k] = expf(dt_t[k] * a_j[k]) * h_j[k] + dt_t[k] * u_t[k] * b_j;
                        out[k] = h_j[k];
                    }
                }
            }
            for (long t = e - 1; t >= s; t--) {
                const long row = base + t;
                const float *dt_t = dt + row * d, *u_t = u + row * d, *dy_t = dy + row * d;
                const float *B_t = B + row * n, *C_t = C + row * n;
                const float *H_t = H + (t - s) * nd, *H_prev = t > s ? H + (t - s - 1) * nd : starts + c * nd;
                float *ddt_t = ddt + row * d, *du_t = du + row * d;
                memset(ddt_t, 0, sizeof(float) * (size_t)d);
                memset(du_t, 0, sizeof(float) * (size_t)d);
                for (long j = 0; j < n; j++) {
                    const float b_j = B_t[j], c_j = C_t[j];
                    const float *a_j = At + j * d, *h_j = H_t + j * d, *hp_j = H_prev + j * d;
                    float *carry_j = carry + j * d, *dA_j = dAt + j * d;
                    float sum_c = 0.0f, sum_b = 0.0f;
#pragma omp simd reduction(+:sum_c, sum_b)
                    for (long k = 0; k < d; k++) {
                        const float g = carry_j[k] + dy_t[k] * c_j;
                        const float a = expf(dt_t[k] * a_j[k]);
                        const float a_hp = a * hp_j[k];
                        sum_c += dy_t[k] * h_j[k];
                        sum_b += g * dt_t[k] * u_t[k];
                        ddt_t[k] += g * (a_j[k] * a_hp + u_t[k] * b_j);
                        du_t[k] += g * dt_t[k] * b_j;
                        dA_j[k] += g * dt_t[k] * a_hp;
                        carry_j[k] = a * g;
                    }
                    dC[row * n + j] = sum_c;
                    dB[row * n + j] = sum_b;
                }
            }
        }
    }
    free(starts); free(H); free(h); free(carry);
    return status;
}
