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
