// Canonical XRGB8888 → a client's true-colour PixelFormat, bit for bit what
// src/rfb/pixel-format.ts's PixelTranslator does (tests compare the two):
// an 8-bit channel c goes to a max m = 2ⁿ−1 as c >> (8 − n) for n ≤ 8, else round(c·m/255);
// the server's own layout keeps the surface word as-is (X byte included). Also ZRLE's CPIXEL
// (cpixelLayout there). Assumes a little-endian host, like the rest of native/.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace vgpu {

/** The RFB PIXEL_FORMAT fields that matter for true colour. */
struct ClientFormat {
  uint32_t bits_per_pixel = 32;
  uint32_t depth = 24;
  bool big_endian = false;
  bool true_colour = true;
  uint32_t red_max = 255, green_max = 255, blue_max = 255;
  uint32_t red_shift = 16, green_shift = 8, blue_shift = 0;
};

/** Why `f` cannot be served (validatePixelFormat's rules), or "" when it is sane. */
std::string ValidateClientFormat(const ClientFormat& f);

/**
 * Reads a JS PixelFormat object ({bitsPerPixel, depth, bigEndian, trueColour, redMax, …}).
 * False with a one-line *error for a missing field or an unservable format.
 */
bool ParseClientFormat(const Napi::Value& value, ClientFormat* out, std::string* error);

inline uint32_t LoadU32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

class PixelTranslator {
 public:
  /** `f` must have passed ValidateClientFormat. */
  explicit PixelTranslator(const ClientFormat& f);

  int bytes_per_pixel() const { return bytes_; }
  bool identity() const { return identity_; }
  /** ZRLE CPIXEL size: 3 for 32 bpp depth ≤ 24 whose channels fit 3 bytes, else bytes_per_pixel. */
  int cpixel_bytes() const { return cpixel_bytes_; }
  /** 8 when a 3-byte CPIXEL holds the value's top 3 bytes (shifted down first), else 0. */
  int cpixel_shift() const { return cpixel_shift_; }

  /** The client pixel value of one XRGB8888 word. */
  uint32_t Value(uint32_t xrgb) const {
    if (identity_) return xrgb;
    return red_[(xrgb >> 16) & 255] | green_[(xrgb >> 8) & 255] | blue_[xrgb & 255];
  }

  /** Writes a pixel value in the client's byte order; returns the end. */
  uint8_t* WritePixel(uint8_t* dst, uint32_t v) const {
    switch (bytes_) {
      case 1:
        *dst = static_cast<uint8_t>(v);
        return dst + 1;
      case 2: {
        const uint16_t w = static_cast<uint16_t>(big_endian_ ? __builtin_bswap16(static_cast<uint16_t>(v)) : v);
        std::memcpy(dst, &w, 2);
        return dst + 2;
      }
      default: {
        const uint32_t w = big_endian_ ? __builtin_bswap32(v) : v;
        std::memcpy(dst, &w, 4);
        return dst + 4;
      }
    }
  }

  /** Writes a pixel value as a CPIXEL; returns the end. */
  uint8_t* WriteCPixel(uint8_t* dst, uint32_t v) const {
    if (cpixel_bytes_ != 3) return WritePixel(dst, v);
    v >>= cpixel_shift_;
    if (big_endian_) {
      dst[0] = static_cast<uint8_t>(v >> 16);
      dst[1] = static_cast<uint8_t>(v >> 8);
      dst[2] = static_cast<uint8_t>(v);
    } else {
      dst[0] = static_cast<uint8_t>(v);
      dst[1] = static_cast<uint8_t>(v >> 8);
      dst[2] = static_cast<uint8_t>(v >> 16);
    }
    return dst + 3;
  }

  /** n surface pixels (XRGB8888 bytes, any alignment) → client pixels; returns the end. */
  uint8_t* TranslateRow(const uint8_t* src, size_t n, uint8_t* dst) const;

 private:
  template <typename Store>
  uint8_t* TranslateWith(const uint8_t* src, size_t n, uint8_t* dst, Store store) const;

  uint32_t red_[256], green_[256], blue_[256];
  int bytes_;
  bool big_endian_;
  bool identity_;
  int cpixel_bytes_;
  int cpixel_shift_;
};

}  // namespace vgpu
