// Capture core: convert a plane to the canonical XRGB8888 surface, compare
// with what the surface held, write changed rows, and mark dirty tiles.
// Plain C++, no N-API: run it inside RunGuarded() because it reads mapped memory.
#pragma once

#include <cstdint>

#include "detile.h"
#include "pixel_formats.h"

namespace vgpu {

struct CaptureJob {
  const uint8_t* src;       // first pixel of the plane (inside the mapping)
  uint64_t src_stride;      // bytes per source line
  uint32_t width;
  uint32_t height;
  PixelFormat format;
  uint8_t* surface;         // width*height*4 bytes, bytes B,G,R,0 per pixel
  uint32_t tile_size;
  bool full;                // mark every tile dirty (still converts)
  uint8_t* dirty;           // tiles_x*tiles_y bytes, written 0/1
  uint32_t tiles_x;
  uint32_t tiles_y;
  Tiling tiling = Tiling::kLinear;  // non-linear: src is the plane base, rows de-tiled first
  uint8_t* scratch = nullptr;       // width*Bpp bytes when tiled (one de-tiled row)
};

// Returns the number of dirty tiles. Geometry must already be validated.
uint32_t RunCapture(const CaptureJob& job);

}  // namespace vgpu
