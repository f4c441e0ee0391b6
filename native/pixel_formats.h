// The DRM fourccs the converter understands (drm_fourcc.h), with their bytes
// per pixel. Conversion itself lives in capture_core.cc.
#pragma once

#include <cstdint>
#include <string>

namespace vgpu {

enum class PixelFormat {
  XRGB8888, ARGB8888, XBGR8888, ABGR8888, BGRX8888, RGBX8888,
  RGB888, BGR888, RGB565, XRGB2101010, XBGR2101010,
};

struct FormatInfo {
  uint32_t fourcc;
  PixelFormat format;
  uint32_t bytes_per_pixel;
  const char* name;
};

constexpr uint32_t FourccCode(char a, char b, char c, char d) {
  return static_cast<uint32_t>(static_cast<uint8_t>(a)) | static_cast<uint32_t>(static_cast<uint8_t>(b)) << 8 |
         static_cast<uint32_t>(static_cast<uint8_t>(c)) << 16 | static_cast<uint32_t>(static_cast<uint8_t>(d)) << 24;
}

constexpr FormatInfo kFormats[] = {
    {FourccCode('X', 'R', '2', '4'), PixelFormat::XRGB8888, 4, "XRGB8888"},
    {FourccCode('A', 'R', '2', '4'), PixelFormat::ARGB8888, 4, "ARGB8888"},
    {FourccCode('X', 'B', '2', '4'), PixelFormat::XBGR8888, 4, "XBGR8888"},
    {FourccCode('A', 'B', '2', '4'), PixelFormat::ABGR8888, 4, "ABGR8888"},
    {FourccCode('B', 'X', '2', '4'), PixelFormat::BGRX8888, 4, "BGRX8888"},
    {FourccCode('R', 'X', '2', '4'), PixelFormat::RGBX8888, 4, "RGBX8888"},
    {FourccCode('R', 'G', '2', '4'), PixelFormat::RGB888, 3, "RGB888"},
    {FourccCode('B', 'G', '2', '4'), PixelFormat::BGR888, 3, "BGR888"},
    {FourccCode('R', 'G', '1', '6'), PixelFormat::RGB565, 2, "RGB565"},
    {FourccCode('X', 'R', '3', '0'), PixelFormat::XRGB2101010, 4, "XRGB2101010"},
    {FourccCode('X', 'B', '3', '0'), PixelFormat::XBGR2101010, 4, "XBGR2101010"},
};

inline const FormatInfo* FindFormat(uint32_t fourcc) {
  for (const FormatInfo& info : kFormats) {
    if (info.fourcc == fourcc) return &info;
  }
  return nullptr;
}

// 'AB12 (0x32314241)' or '???? (0x…)' for unprintable codes.
std::string DescribeFourcc(uint32_t fourcc);

}  // namespace vgpu
