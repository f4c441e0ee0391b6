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
  bool probe = false;               // an idle probe first (needs src_sigs; see ProbeFindsChange)
  uint32_t row_step = 16;           // probe: every row_step-th row (>= 1) ...
  uint32_t phase = 0;               // ... starting at this row (< row_step)
  bool full_pass_on_change = true;  // probe: false = stop after the probe even when it sees a change
  // Scroll detection (see src/surface/scroll.ts). seg_hashes: height*tiles_x u64 (any alignment),
  // [y*tiles_x + tx] = a 64-bit hash of surface row y, tile column tx, rewritten for dirty tiles (all
  // tiles when full) after the capture wrote them; others keep their value. nullptr = none.
  uint8_t* seg_hashes = nullptr;
  // Rewrite every segment's hash, not only the dirty tiles' (after captures that kept none).
  bool hash_all_segments = false;
  // old_rows: ceil(height/old_row_step) surface rows; before a (non-full) pass overwrites row
  // y = k*old_row_step it is copied to old_rows + k*width*4, so moves can be checked against the
  // previous frame's real pixels. With src_sigs only the segments compared are copied: a segment
  // whose value is not 1 after the pass did not change in that row, so the surface holds its old
  // pixels. nullptr = none.
  uint8_t* old_rows = nullptr;
  uint32_t old_row_step = 8;
  // Exact damage: tiles_x*tiles_y*4 bytes, per tile x0,y0,x1,y1 (tile-local, x1/y1 exclusive) of
  // the pixels that changed, all 0 for a clean tile; whole tiles (clipped to the surface) when
  // full. Tile sizes above 255 do not fit a byte: then all 0 (a dirty tile without bounds means
  // the whole tile). nullptr = not wanted.
  uint8_t* bounds = nullptr;
  // Source signatures: src_sigs holds height*sig_segs_x u64 (any alignment), [y*sig_segs_x + s]
  // for row y, pixels [s*sig_segment, (s+1)*sig_segment) clipped to the width: 0 = unknown,
  // 1 = changed in the last pass, else a signature (a 64-bit hash) of the canonical pixels the
  // surface holds there. The non-full pass skips a segment whose source, converted, has its
  // signature (the surface is not read); it converts, compares and stores the others as without
  // signatures, then signs those that did not change in this row (from the surface) and marks
  // the others 1. The full pass signs every segment. The caller zeroes them whenever the surface
  // changes otherwise. sig_segment is a multiple of tile_size, at most kMaxSigSegment. nullptr = none.
  uint8_t* src_sigs = nullptr;
  uint32_t sig_segment = 0;
  uint32_t sig_segs_x = 0;
  // Run the portable kernels even where the CPU has AVX2 (tests compare the two).
  bool portable = false;
};

// Widest source-signature segment in pixels (the hash's keys cover 16 stripes of 16 pixels).
constexpr uint32_t kMaxSigSegment = 256;

// Returns the number of dirty tiles. Geometry must already be validated.
uint32_t RunCapture(const CaptureJob& job);

// A cheap idle check (x11vnc-style) used when job.probe is set and job.full is
// false: looks at rows phase, phase+row_step, ... only, through the source
// signatures (job.src_sigs, required). A segment of such a row counts as
// unchanged when its source, converted, hashes to its signature, or else when it
// converts to exactly what the surface holds; it is then signed from the
// surface, so an idle probe reads source rows only. Never writes the surface.
// True as soon as one probed segment differs.
bool ProbeFindsChange(const CaptureJob& job);

struct ProbeOutcome {
  bool probe_only = false;  // no full pass ran: dirty is all 0
  bool changed = false;     // the probe saw a changed row
};

// The probe, then the full pass if the probe found a change (unless
// full_pass_on_change is false) or if there is no probe. Returns the number of
// dirty tiles.
uint32_t RunCaptureOrProbe(const CaptureJob& job, ProbeOutcome* outcome);


}  // namespace vgpu
