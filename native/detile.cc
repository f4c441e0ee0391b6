#include "detile.h"

#include <cstdio>
#include <cstring>

namespace vgpu {

bool TilingForModifier(uint64_t modifier, Tiling* tiling, std::string* error) {
  switch (modifier) {
    case kModLinear: *tiling = Tiling::kLinear; return true;
    case kModIntelX: *tiling = Tiling::kIntelX; return true;
    case kModIntelY: *tiling = Tiling::kIntelY; return true;
    case kModIntelYf:
      *error = "plane modifier I915_FORMAT_MOD_Yf_TILED (0x0100000000000003) is not supported: "
               "Yf tiling cannot be de-tiled on the CPU here";
      return false;
    default: {
      char text[96];
      std::snprintf(text, sizeof text, "plane modifier 0x%016llx is not supported (linear, Intel X and Y only)",
                    static_cast<unsigned long long>(modifier));
      *error = text;
      return false;
    }
  }
}

TileShape ShapeOf(Tiling tiling) {
  switch (tiling) {
    case Tiling::kIntelX: return {512, 8};
    case Tiling::kIntelY: return {128, 32};
    case Tiling::kLinear: break;
  }
  return {1, 1};
}

void DetileRow(Tiling tiling, const uint8_t* base, uint64_t stride, uint32_t y, uint64_t row_bytes, uint8_t* out) {
  const TileShape shape = ShapeOf(tiling);
  const uint64_t tile_bytes = uint64_t{shape.width_bytes} * shape.rows;  // 4096
  const uint64_t tiles_per_row = stride / shape.width_bytes;
  const uint32_t row_in_tile = y % shape.rows;
  const uint8_t* tile_row = base + uint64_t{y / shape.rows} * tiles_per_row * tile_bytes;
  if (tiling == Tiling::kIntelX) {
    // Within an X tile, bytes are row-major: 8 rows of 512 bytes.
    for (uint64_t x = 0, t = 0; x < row_bytes; x += 512, t++) {
      const uint64_t n = row_bytes - x < 512 ? row_bytes - x : 512;
      std::memcpy(out + x, tile_row + t * tile_bytes + uint64_t{row_in_tile} * 512, n);
    }
    return;
  }
  // Y tile: 8 columns of 16-byte OWORDs, each column 32 rows tall, column-major.
  for (uint64_t x = 0; x < row_bytes; x += 16) {
    const uint64_t t = x / 128, column = (x % 128) / 16;
    const uint64_t n = row_bytes - x < 16 ? row_bytes - x : 16;
    std::memcpy(out + x, tile_row + t * tile_bytes + column * 512 + uint64_t{row_in_tile} * 16, n);
  }
}

}  // namespace vgpu
