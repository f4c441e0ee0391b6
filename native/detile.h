// CPU de-tiling of Intel X- and Y-tiled planes (drm_fourcc.h, gen8+ layouts,
// no bit-6 swizzling): one plane row at a time into a linear scratch row.
#pragma once

#include <cstdint>
#include <string>

namespace vgpu {

enum class Tiling { kLinear, kIntelX, kIntelY };

constexpr uint64_t kModLinear = 0;
constexpr uint64_t kModIntelX = 0x0100000000000001ull;
constexpr uint64_t kModIntelY = 0x0100000000000002ull;
constexpr uint64_t kModIntelYf = 0x0100000000000003ull;

struct TileShape {
  uint32_t width_bytes;  // bytes per tile row
  uint32_t rows;         // rows per tile
};

// Maps a modifier to a tiling; false (with a one-line reason) when unsupported.
bool TilingForModifier(uint64_t modifier, Tiling* tiling, std::string* error);

// Tile footprint: X 512 B x 8 rows, Y 128 B x 32 rows (both 4 KiB).
TileShape ShapeOf(Tiling tiling);

// Copies row y (row_bytes long) of a tiled plane starting at base, whose
// stride is a multiple of the tile width, into out. Reads mapped memory: call
// inside RunGuarded().
void DetileRow(Tiling tiling, const uint8_t* base, uint64_t stride, uint32_t y, uint64_t row_bytes, uint8_t* out);

}  // namespace vgpu
