// Tight's pixel filters (rfbproto "Tight Encoding", basic compression) in native code, so a
// full-colour rect's data is made — and, with each zlib stream's other inputs of a batch,
// deflated — off the JS thread:
//  - copy of the canonical XRGB8888 surface as 24-bit TPIXELs (R, G, B);
//  - the gradient filter (filter id 2): each colour component minus its prediction
//    clamp(left + above − aboveleft, 0, max), modulo max + 1, pixels outside the rect being 0.
//    On the surface (24-bit TPIXEL output), or on pixels already in the client's format.
#pragma once

#include <napi.h>

namespace vgpu {

/** tightFilter(job): the filtered bytes, synchronously. */
Napi::Value TightFilter(const Napi::CallbackInfo& info);
/** tightSampleRatio(job): deflated/raw size of a sample of the filtered rect (zlib level 1). */
Napi::Value TightSampleRatio(const Napi::CallbackInfo& info);
/** tightDeflateAsync(items, zstream): jobs and byte arrays through the stream in order, one chunk each, off the JS thread. */
Napi::Value TightDeflateAsync(const Napi::CallbackInfo& info);
/** tightFilterBench(job, runs): seconds for `runs` filter passes and for `runs` memcpys of the rect, [filter, memcpy]. */
Napi::Value TightFilterBench(const Napi::CallbackInfo& info);

}  // namespace vgpu
