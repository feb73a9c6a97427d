// Float image resizes that must agree with PyTorch's CPU kernels to the bit.
#ifndef NEXTGPT_RESIZE_H
#define NEXTGPT_RESIZE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// One plane x [in_h][in_w] -> y [out_h][out_w], as torch.nn.functional.interpolate(mode="bilinear",
// align_corners=False, size given) computes it on the CPU (upsample_bilinear2d, generic kernel):
// scale = (float)in / out, source = max(scale * (dst + 0.5f) - 0.5f, 0) unfused, index floor(source)
// capped at in - 1, lambda1 = clamp(source - index, 0, 1), lambda0 = 1 - lambda1; each output is
// fma(top, h0, bottom * h1) of two rows that are each fma(left, w0, right * w1) (how PyTorch's
// AVX2 build contracts t0 * w0 + t1 * w1). `scratch` holds in_h * out_w floats.
void ngk_resize_bilinear_plane(const float *x, size_t in_h, size_t in_w, float *y, size_t out_h, size_t out_w,
                               float *scratch);
void ngk_resize_bilinear_plane_ref(const float *x, size_t in_h, size_t in_w, float *y, size_t out_h, size_t out_w,
                                   float *scratch);

#ifdef __cplusplus
}
#endif

#endif
