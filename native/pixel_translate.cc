#include "pixel_translate.h"

#include "errors.h"

namespace vgpu {

namespace {

/** n of a max 2ⁿ−1 (1..65535), or −1. */
int ChannelBits(uint32_t max) {
  if (max == 0 || max > 0xffff || (max & (max + 1)) != 0) return -1;
  return __builtin_popcount(max);
}

void ChannelTable(uint32_t max, uint32_t shift, uint32_t table[256]) {
  const int bits = ChannelBits(max);
  for (uint32_t c = 0; c < 256; c++) {
    // round(c·max/255) never meets a tie (c·max is an integer), so integer rounding agrees.
    const uint32_t v = bits <= 8 ? c >> (8 - bits) : (c * max + 127) / 255;
    table[c] = static_cast<uint32_t>(static_cast<uint64_t>(v) << shift);
  }
}

uint64_t ChannelMask(const ClientFormat& f) {
  return (uint64_t{f.red_max} << f.red_shift) + (uint64_t{f.green_max} << f.green_shift) +
         (uint64_t{f.blue_max} << f.blue_shift);
}

bool IsServerLayout(const ClientFormat& f) {
  return f.bits_per_pixel == 32 && !f.big_endian && f.true_colour && f.red_max == 255 && f.green_max == 255 &&
         f.blue_max == 255 && f.red_shift == 16 && f.green_shift == 8 && f.blue_shift == 0;
}

}  // namespace

std::string ValidateClientFormat(const ClientFormat& f) {
  const uint32_t bpp = f.bits_per_pixel;
  if (bpp != 8 && bpp != 16 && bpp != 32) return "bits-per-pixel " + std::to_string(bpp) + " is not 8, 16 or 32";
  if (f.depth == 0 || f.depth > bpp) return "depth " + std::to_string(f.depth) + " is not within 1.." + std::to_string(bpp);
  if (!f.true_colour) return "colour-map pixel formats are not supported (true colour only)";
  const struct {
    const char* name;
    uint32_t max, shift;
  } channels[] = {{"red", f.red_max, f.red_shift}, {"green", f.green_max, f.green_shift}, {"blue", f.blue_max, f.blue_shift}};
  uint64_t used = 0;
  for (const auto& c : channels) {
    const int bits = ChannelBits(c.max);
    if (bits < 0) return std::string(c.name) + "-max " + std::to_string(c.max) + " is not of the form 2^n-1";
    if (c.shift + bits > bpp) {
      return std::string(c.name) + "-shift " + std::to_string(c.shift) + " + " + std::to_string(bits) +
             " bits exceeds " + std::to_string(bpp) + " bits per pixel";
    }
    const uint64_t mask = uint64_t{c.max} << c.shift;
    if (used & mask) return std::string(c.name) + " channel overlaps another channel";
    used |= mask;
  }
  return "";
}

bool ParseClientFormat(const Napi::Value& value, ClientFormat* out, std::string* error) {
  if (!value.IsObject()) {
    *error = "pixel format must be an object";
    return false;
  }
  Napi::Object o = value.As<Napi::Object>();
  const struct {
    const char* key;
    uint32_t* field;
  } numbers[] = {{"bitsPerPixel", &out->bits_per_pixel}, {"depth", &out->depth},       {"redMax", &out->red_max},
                 {"greenMax", &out->green_max},         {"blueMax", &out->blue_max},   {"redShift", &out->red_shift},
                 {"greenShift", &out->green_shift},     {"blueShift", &out->blue_shift}};
  for (const auto& n : numbers) {
    uint64_t v = 0;
    if (!ToIndex(o.Get(n.key), &v) || v > 0xffff) {
      *error = std::string("pixel format: ") + n.key + " must be an integer in 0..65535";
      return false;
    }
    *n.field = static_cast<uint32_t>(v);
  }
  out->big_endian = o.Get("bigEndian").ToBoolean().Value();
  out->true_colour = o.Get("trueColour").ToBoolean().Value();
  const std::string why = ValidateClientFormat(*out);
  if (!why.empty()) {
    *error = "invalid pixel format: " + why;
    return false;
  }
  return true;
}

PixelTranslator::PixelTranslator(const ClientFormat& f)
    : bytes_(static_cast<int>(f.bits_per_pixel / 8)), big_endian_(f.big_endian), identity_(IsServerLayout(f)) {
  ChannelTable(f.red_max, f.red_shift, red_);
  ChannelTable(f.green_max, f.green_shift, green_);
  ChannelTable(f.blue_max, f.blue_shift, blue_);
  cpixel_bytes_ = bytes_;
  cpixel_shift_ = 0;
  if (f.bits_per_pixel == 32 && f.depth <= 24 && f.true_colour) {
    const uint64_t mask = ChannelMask(f);
    if (mask <= 0xffffff) {
      cpixel_bytes_ = 3;
    } else if ((mask & 0xff) == 0) {
      cpixel_bytes_ = 3;
      cpixel_shift_ = 8;
    }
  }
}

template <typename Store>
uint8_t* PixelTranslator::TranslateWith(const uint8_t* src, size_t n, uint8_t* dst, Store store) const {
  for (size_t i = 0; i < n; i++, src += 4) {
    const uint32_t v = LoadU32(src);
    dst = store(dst, red_[(v >> 16) & 255] | green_[(v >> 8) & 255] | blue_[v & 255]);
  }
  return dst;
}

uint8_t* PixelTranslator::TranslateRow(const uint8_t* src, size_t n, uint8_t* dst) const {
  if (identity_) {
    std::memcpy(dst, src, n * 4);
    return dst + n * 4;
  }
  // One loop per store kind, so the switch is not inside the pixel loop.
  switch (bytes_) {
    case 1:
      return TranslateWith(src, n, dst, [](uint8_t* d, uint32_t v) {
        *d = static_cast<uint8_t>(v);
        return d + 1;
      });
    case 2:
      if (big_endian_) {
        return TranslateWith(src, n, dst, [](uint8_t* d, uint32_t v) {
          const uint16_t w = __builtin_bswap16(static_cast<uint16_t>(v));
          std::memcpy(d, &w, 2);
          return d + 2;
        });
      }
      return TranslateWith(src, n, dst, [](uint8_t* d, uint32_t v) {
        const uint16_t w = static_cast<uint16_t>(v);
        std::memcpy(d, &w, 2);
        return d + 2;
      });
    default:
      if (big_endian_) {
        return TranslateWith(src, n, dst, [](uint8_t* d, uint32_t v) {
          const uint32_t w = __builtin_bswap32(v);
          std::memcpy(d, &w, 4);
          return d + 4;
        });
      }
      return TranslateWith(src, n, dst, [](uint8_t* d, uint32_t v) {
        std::memcpy(d, &v, 4);
        return d + 4;
      });
  }
}

}  // namespace vgpu
