// Raw (0) encoding of a batch of rects off the JS thread, and what every native encoder of a
// batch shares: reading the surface and the rects from JS, and the 12-byte rect header.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace vgpu {

/** A SurfaceView ({data, width, height}): canonical XRGB8888, tightly packed. */
struct SurfaceInput {
  const uint8_t* data = nullptr;
  uint32_t width = 0, height = 0;
};

struct RectInput {
  uint32_t x, y, w, h;
};

/**
 * Reads the surface and the rects (each inside the surface; empty ones are dropped: nothing
 * goes on the wire for them). False with an error code ('EINVAL'/'ERANGE') and a one-line
 * message. `surface_object` gets the JS object whose data must outlive an async job.
 */
bool ParseBatchInput(const Napi::Value& surface, const Napi::Value& rects, SurfaceInput* surface_out,
                     std::vector<RectInput>* rects_out, Napi::Object* data_object, std::string* code, std::string* error);

/** The 12-byte rectangle header: x, y, w, h (u16 BE) and the encoding (s32 BE); returns the end. */
uint8_t* WriteRectHeader(uint8_t* dst, const RectInput& r, int32_t encoding);

/** rawEncode(surface, rects, pf): Promise<Buffer> with every rect (header + pixels) in order. */
Napi::Value RawEncode(const Napi::CallbackInfo& info);
/** rawEncodeSync: the same on the calling thread (small batches: a pool round trip costs more). */
Napi::Value RawEncodeSync(const Napi::CallbackInfo& info);

}  // namespace vgpu
