#include "capture_core.h"

#include <cstdio>
#include <cstring>

namespace vgpu {

std::string DescribeFourcc(uint32_t fourcc) {
  char text[5];
  bool printable = true;
  for (int i = 0; i < 4; i++) {
    unsigned c = (fourcc >> (8 * i)) & 0xff;
    printable = printable && c >= 0x20 && c < 0x7f;
    text[i] = static_cast<char>(c);
  }
  text[4] = 0;
  char out[32];
  std::snprintf(out, sizeof out, "%s (0x%08x)", printable ? text : "????", fourcc);
  return out;
}

namespace {

inline uint32_t Load32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

inline uint32_t Load16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// Each converter turns one source pixel into the canonical word
// R<<16 | G<<8 | B (stored little-endian: bytes B,G,R,0). Alpha is ignored.
// Bit layouts are drm_fourcc.h's, read as little-endian words.

struct FromXRGB8888 {  // [31:0] x:R:G:B
  static constexpr uint32_t kBpp = 4;
  static uint32_t Pixel(const uint8_t* p) { return Load32(p) & 0x00ffffffu; }
};

struct FromXBGR8888 {  // [31:0] x:B:G:R
  static constexpr uint32_t kBpp = 4;
  static uint32_t Pixel(const uint8_t* p) {
    uint32_t v = Load32(p);
    return (v & 0xffu) << 16 | (v & 0xff00u) | ((v >> 16) & 0xffu);
  }
};

struct FromRGBX8888 {  // [31:0] R:G:B:x
  static constexpr uint32_t kBpp = 4;
  static uint32_t Pixel(const uint8_t* p) { return Load32(p) >> 8; }
};

struct FromBGRX8888 {  // [31:0] B:G:R:x
  static constexpr uint32_t kBpp = 4;
  static uint32_t Pixel(const uint8_t* p) { return __builtin_bswap32(Load32(p)) & 0x00ffffffu; }
};

struct FromRGB888 {  // [23:0] R:G:B -> bytes B,G,R
  static constexpr uint32_t kBpp = 3;
  static uint32_t Pixel(const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16;
  }
};

struct FromBGR888 {  // [23:0] B:G:R -> bytes R,G,B
  static constexpr uint32_t kBpp = 3;
  static uint32_t Pixel(const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) << 16 | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]);
  }
};

struct FromRGB565 {  // [15:0] R:G:B 5:6:5; widen by repeating the top bits
  static constexpr uint32_t kBpp = 2;
  static uint32_t Pixel(const uint8_t* p) {
    uint32_t v = Load16(p);
    uint32_t r5 = v >> 11, g6 = (v >> 5) & 0x3f, b5 = v & 0x1f;
    uint32_t r = (r5 << 3) | (r5 >> 2), g = (g6 << 2) | (g6 >> 4), b = (b5 << 3) | (b5 >> 2);
    return r << 16 | g << 8 | b;
  }
};

struct FromXRGB2101010 {  // [31:0] x:R:G:B 2:10:10:10; keep the top 8 bits
  static constexpr uint32_t kBpp = 4;
  static uint32_t Pixel(const uint8_t* p) {
    uint32_t v = Load32(p);
    return ((v >> 22) & 0xffu) << 16 | ((v >> 12) & 0xffu) << 8 | ((v >> 2) & 0xffu);
  }
};

struct FromXBGR2101010 {  // [31:0] x:B:G:R 2:10:10:10
  static constexpr uint32_t kBpp = 4;
  static uint32_t Pixel(const uint8_t* p) {
    uint32_t v = Load32(p);
    return ((v >> 2) & 0xffu) << 16 | ((v >> 12) & 0xffu) << 8 | ((v >> 22) & 0xffu);
  }
};

// True if converting n source pixels would change dst. Written without an
// early exit so the compiler vectorizes it; n is at most one tile (256 px).
template <typename Conv>
inline bool SegmentDiffers(const uint8_t* src, const uint8_t* dst, uint32_t n) {
  uint32_t acc = 0;
  for (uint32_t i = 0; i < n; i++) acc |= Conv::Pixel(src + i * Conv::kBpp) ^ Load32(dst + i * 4);
  return acc != 0;
}

template <typename Conv>
inline void ConvertSegment(const uint8_t* src, uint8_t* dst, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    uint32_t v = Conv::Pixel(src + i * Conv::kBpp);
    std::memcpy(dst + i * 4, &v, 4);
  }
}

template <typename Conv>
uint32_t CaptureWith(const CaptureJob& job) {
  const uint32_t tile = job.tile_size;
  const uint64_t dst_stride = static_cast<uint64_t>(job.width) * 4;
  if (job.full) {
    for (uint32_t y = 0; y < job.height; y++) {
      ConvertSegment<Conv>(job.src + y * job.src_stride, job.surface + y * dst_stride, job.width);
    }
    const uint64_t count = static_cast<uint64_t>(job.tiles_x) * job.tiles_y;
    std::memset(job.dirty, 1, count);
    return static_cast<uint32_t>(count);
  }
  uint32_t dirty_count = 0;
  for (uint32_t ty = 0; ty < job.tiles_y; ty++) {
    uint8_t* band_dirty = job.dirty + static_cast<uint64_t>(ty) * job.tiles_x;
    std::memset(band_dirty, 0, job.tiles_x);
    const uint32_t y_end = ty * tile + tile < job.height ? ty * tile + tile : job.height;
    // One pass over the band, row by row, so each source line is read once.
    for (uint32_t y = ty * tile; y < y_end; y++) {
      const uint8_t* src_row = job.src + y * job.src_stride;
      uint8_t* dst_row = job.surface + y * dst_stride;
      for (uint32_t tx = 0, x = 0; tx < job.tiles_x; tx++, x += tile) {
        const uint32_t n = x + tile < job.width ? tile : job.width - x;
        const uint8_t* s = src_row + static_cast<uint64_t>(x) * Conv::kBpp;
        uint8_t* d = dst_row + static_cast<uint64_t>(x) * 4;
        if (SegmentDiffers<Conv>(s, d, n)) {
          ConvertSegment<Conv>(s, d, n);
          band_dirty[tx] = 1;
        }
      }
    }
    for (uint32_t tx = 0; tx < job.tiles_x; tx++) dirty_count += band_dirty[tx];
  }
  return dirty_count;
}

}  // namespace

uint32_t RunCapture(const CaptureJob& job) {
  switch (job.format) {
    case PixelFormat::XRGB8888:
    case PixelFormat::ARGB8888: return CaptureWith<FromXRGB8888>(job);
    case PixelFormat::XBGR8888:
    case PixelFormat::ABGR8888: return CaptureWith<FromXBGR8888>(job);
    case PixelFormat::RGBX8888: return CaptureWith<FromRGBX8888>(job);
    case PixelFormat::BGRX8888: return CaptureWith<FromBGRX8888>(job);
    case PixelFormat::RGB888: return CaptureWith<FromRGB888>(job);
    case PixelFormat::BGR888: return CaptureWith<FromBGR888>(job);
    case PixelFormat::RGB565: return CaptureWith<FromRGB565>(job);
    case PixelFormat::XRGB2101010: return CaptureWith<FromXRGB2101010>(job);
    case PixelFormat::XBGR2101010: return CaptureWith<FromXBGR2101010>(job);
  }
  return 0;
}

}  // namespace vgpu
