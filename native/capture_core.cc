#include "capture_core.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
// AVX2 kernels are compiled alongside the baseline ones and picked at run time
// (__builtin_cpu_supports), so the addon still runs on any x86-64.
#define VGPU_HAVE_AVX2 1
#define VGPU_AVX2 __attribute__((target("avx2")))
#endif

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

// Four pixels at a time in one 128-bit vector (GCC/Clang vector extension:
// SSE2 on x86-64, NEON on arm64, scalar code elsewhere).
typedef uint32_t Quad __attribute__((vector_size(16)));

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

inline Quad LoadQuad(const uint8_t* p) {
  Quad v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline void StoreQuad(uint8_t* p, Quad v) { std::memcpy(p, &v, sizeof v); }

inline bool AnyNonZero(Quad v) {
#if defined(__SSE2__)
  const __m128i zero = _mm_setzero_si128();
  return _mm_movemask_epi8(_mm_cmpeq_epi32(reinterpret_cast<__m128i>(v), zero)) != 0xffff;
#else
  return (v[0] | v[1] | v[2] | v[3]) != 0;
#endif
}

inline uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

inline Quad QuadFromPairs(uint64_t low, uint64_t high) {
#if defined(__SSE2__)
  // Register moves; going through memory would stall on store forwarding.
  return reinterpret_cast<Quad>(_mm_set_epi64x(static_cast<long long>(high), static_cast<long long>(low)));
#else
  return Quad{static_cast<uint32_t>(low), static_cast<uint32_t>(low >> 32), static_cast<uint32_t>(high),
              static_cast<uint32_t>(high >> 32)};
#endif
}

// Four 3-byte pixels (12 bytes, read exactly: never past the plane) as the
// words b0 | b1<<8 | b2<<16.
inline Quad LoadPacked24(const uint8_t* p) {
  const uint32_t w0 = Load32(p), w1 = Load32(p + 4), w2 = Load32(p + 8);
  return Quad{w0 & 0xffffffu, ((w0 >> 24) | (w1 << 8)) & 0xffffffu, ((w1 >> 16) | (w2 << 16)) & 0xffffffu, w2 >> 8};
}

// Four 16-bit pixels zero-extended to 32-bit lanes.
inline Quad LoadPacked16(const uint8_t* p) {
#if defined(__SSE2__)
  return reinterpret_cast<Quad>(
      _mm_unpacklo_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)), _mm_setzero_si128()));
#else
  const uint64_t a = Load64(p);
  return QuadFromPairs((a & 0xffffu) | ((a << 16) & 0xffff00000000u), ((a >> 32) & 0xffffu) | ((a >> 16) & 0xffff00000000u));
#endif
}

#if VGPU_HAVE_AVX2
// Eight pixels at a time in one 256-bit vector (AVX2 kernels only).
typedef uint32_t Oct __attribute__((vector_size(32)));

VGPU_AVX2 inline Oct LoadOct(const uint8_t* p) {
  Oct v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Eight 3-byte pixels: two 16-byte loads (pixels 0-3 at p, 4-7 at p+12, so 28
// bytes are read), one in-lane byte shuffle per 128-bit half.
VGPU_AVX2 inline Oct Load24x8(const uint8_t* p, __m256i shuffle) {
  const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 12));
  return reinterpret_cast<Oct>(_mm256_shuffle_epi8(_mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1), shuffle));
}

// Eight 16-bit pixels zero-extended to 32-bit lanes.
VGPU_AVX2 inline Oct Load16x8(const uint8_t* p) {
  return reinterpret_cast<Oct>(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}
#define VGPU_OCTS_4BPP \
  static constexpr uint32_t kOctRead = 32; \
  VGPU_AVX2 static Oct Octs(const uint8_t* p) { return Convert(LoadOct(p)); } \
  VGPU_AVX2 static void Sixteen(const uint8_t* p, __m256i* a, __m256i* b) { \
    *a = reinterpret_cast<__m256i>(Octs(p)); \
    *b = reinterpret_cast<__m256i>(Octs(p + 8 * kBpp)); \
  }
#else
#define VGPU_OCTS_4BPP
#endif

// Each converter turns source pixels into the canonical word
// R<<16 | G<<8 | B (stored little-endian: bytes B,G,R,0). Alpha is ignored.
// Bit layouts are drm_fourcc.h's, read as little-endian words. Pixel() does
// one pixel (row tails), Quads() four; both apply the same arithmetic.

struct FromXRGB8888 {  // [31:0] x:R:G:B
  static constexpr uint32_t kBpp = 4;
  template <typename T> static T Convert(T v) { return v & 0x00ffffffu; }
  static uint32_t Pixel(const uint8_t* p) { return Convert(Load32(p)); }
  static Quad Quads(const uint8_t* p) { return Convert(LoadQuad(p)); }
  VGPU_OCTS_4BPP
};

struct FromXBGR8888 {  // [31:0] x:B:G:R
  static constexpr uint32_t kBpp = 4;
  template <typename T> static T Convert(T v) { return (v & 0xffu) << 16 | (v & 0xff00u) | ((v >> 16) & 0xffu); }
  static uint32_t Pixel(const uint8_t* p) { return Convert(Load32(p)); }
  static Quad Quads(const uint8_t* p) { return Convert(LoadQuad(p)); }
  VGPU_OCTS_4BPP
};

struct FromRGBX8888 {  // [31:0] R:G:B:x
  static constexpr uint32_t kBpp = 4;
  template <typename T> static T Convert(T v) { return v >> 8; }
  static uint32_t Pixel(const uint8_t* p) { return Convert(Load32(p)); }
  static Quad Quads(const uint8_t* p) { return Convert(LoadQuad(p)); }
  VGPU_OCTS_4BPP
};

struct FromBGRX8888 {  // [31:0] B:G:R:x
  static constexpr uint32_t kBpp = 4;
  template <typename T> static T Convert(T v) { return ((v >> 8) & 0xffu) << 16 | ((v >> 16) & 0xffu) << 8 | v >> 24; }
  static uint32_t Pixel(const uint8_t* p) { return Convert(Load32(p)); }
  static Quad Quads(const uint8_t* p) { return Convert(LoadQuad(p)); }
  VGPU_OCTS_4BPP
};

struct FromRGB888 {  // [23:0] R:G:B -> bytes B,G,R
  static constexpr uint32_t kBpp = 3;
  static uint32_t Pixel(const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16;
  }
  static Quad Quads(const uint8_t* p) { return LoadPacked24(p); }
#if VGPU_HAVE_AVX2
  static constexpr uint32_t kOctRead = 28;
  VGPU_AVX2 static Oct Octs(const uint8_t* p) {
    const __m256i shuffle = _mm256_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1,
                                             0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1);
    return Load24x8(p, shuffle);
  }
  VGPU_AVX2 static void Sixteen(const uint8_t* p, __m256i* a, __m256i* b) {
    *a = reinterpret_cast<__m256i>(Octs(p));
    *b = reinterpret_cast<__m256i>(Octs(p + 24));
  }
#endif
};

struct FromBGR888 {  // [23:0] B:G:R -> bytes R,G,B
  static constexpr uint32_t kBpp = 3;
  template <typename T> static T Swap(T v) { return (v & 0xffu) << 16 | (v & 0xff00u) | (v >> 16); }
  static uint32_t Pixel(const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) << 16 | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]);
  }
  static Quad Quads(const uint8_t* p) { return Swap(LoadPacked24(p)); }
#if VGPU_HAVE_AVX2
  static constexpr uint32_t kOctRead = 28;
  VGPU_AVX2 static Oct Octs(const uint8_t* p) {
    const __m256i shuffle = _mm256_setr_epi8(2, 1, 0, -1, 5, 4, 3, -1, 8, 7, 6, -1, 11, 10, 9, -1,
                                             2, 1, 0, -1, 5, 4, 3, -1, 8, 7, 6, -1, 11, 10, 9, -1);
    return Load24x8(p, shuffle);
  }
  VGPU_AVX2 static void Sixteen(const uint8_t* p, __m256i* a, __m256i* b) {
    *a = reinterpret_cast<__m256i>(Octs(p));
    *b = reinterpret_cast<__m256i>(Octs(p + 24));
  }
#endif
};

struct FromRGB565 {  // [15:0] R:G:B 5:6:5; widen by repeating the top bits
  static constexpr uint32_t kBpp = 2;
  template <typename T> static T Convert(T v) {
    T r5 = v >> 11, g6 = (v >> 5) & 0x3fu, b5 = v & 0x1fu;
    T r = (r5 << 3) | (r5 >> 2), g = (g6 << 2) | (g6 >> 4), b = (b5 << 3) | (b5 >> 2);
    return r << 16 | g << 8 | b;
  }
  static uint32_t Pixel(const uint8_t* p) { return Convert(Load16(p)); }
  static Quad Quads(const uint8_t* p) { return Convert(LoadPacked16(p)); }
#if VGPU_HAVE_AVX2
  static constexpr uint32_t kOctRead = 16;
  VGPU_AVX2 static Oct Octs(const uint8_t* p) { return Convert(Load16x8(p)); }
  // Sixteen pixels widened in 16-bit lanes (half the work of two Octs), then
  // interleaved to B,G,R,0 words and put back in order across the two lanes.
  VGPU_AVX2 static void Sixteen(const uint8_t* p, __m256i* a, __m256i* b) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    const __m256i r = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 8), _mm256_set1_epi16(0xf8)),
                                      _mm256_srli_epi16(v, 13));
    const __m256i g = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 3), _mm256_set1_epi16(0xfc)),
                                      _mm256_and_si256(_mm256_srli_epi16(v, 9), _mm256_set1_epi16(0x03)));
    const __m256i bl = _mm256_or_si256(_mm256_and_si256(_mm256_slli_epi16(v, 3), _mm256_set1_epi16(0xf8)),
                                       _mm256_and_si256(_mm256_srli_epi16(v, 2), _mm256_set1_epi16(0x07)));
    const __m256i bg = _mm256_or_si256(bl, _mm256_slli_epi16(g, 8));
    const __m256i lo = _mm256_unpacklo_epi16(bg, r);  // pixels 0-3 | 8-11
    const __m256i hi = _mm256_unpackhi_epi16(bg, r);  // pixels 4-7 | 12-15
    *a = _mm256_permute2x128_si256(lo, hi, 0x20);
    *b = _mm256_permute2x128_si256(lo, hi, 0x31);
  }
#endif
};

struct FromXRGB2101010 {  // [31:0] x:R:G:B 2:10:10:10; keep the top 8 bits
  static constexpr uint32_t kBpp = 4;
  template <typename T> static T Convert(T v) {
    return ((v >> 22) & 0xffu) << 16 | ((v >> 12) & 0xffu) << 8 | ((v >> 2) & 0xffu);
  }
  static uint32_t Pixel(const uint8_t* p) { return Convert(Load32(p)); }
  static Quad Quads(const uint8_t* p) { return Convert(LoadQuad(p)); }
  VGPU_OCTS_4BPP
};

struct FromXBGR2101010 {  // [31:0] x:B:G:R 2:10:10:10
  static constexpr uint32_t kBpp = 4;
  template <typename T> static T Convert(T v) {
    return ((v >> 2) & 0xffu) << 16 | ((v >> 12) & 0xffu) << 8 | ((v >> 22) & 0xffu);
  }
  static uint32_t Pixel(const uint8_t* p) { return Convert(Load32(p)); }
  static Quad Quads(const uint8_t* p) { return Convert(LoadQuad(p)); }
  VGPU_OCTS_4BPP
};

// Where a tile's changed pixels are, tile-local; x1 == 0 while nothing changed.
struct TileBox {
  uint32_t x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};

// Row `row` of the tile changed in pixels [first, end) (segment-local, end > first).
inline void Widen(TileBox* box, uint32_t first, uint32_t end, uint32_t row) {
  if (box->x1 == 0) {
    box->x0 = first;
    box->x1 = end;
    box->y0 = row;
  } else {
    if (first < box->x0) box->x0 = first;
    if (end > box->x1) box->x1 = end;
  }
  box->y1 = row + 1;
}

// Lanes of a four-pixel difference that are non-zero, as bits 0..3.
inline uint32_t ChangedLanes(Quad diff) {
#if defined(__SSE2__)
  const __m128i zero = _mm_setzero_si128();
  return ~static_cast<uint32_t>(_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(reinterpret_cast<__m128i>(diff), zero)))) & 0xfu;
#else
  return (diff[0] != 0 ? 1u : 0u) | (diff[1] != 0 ? 2u : 0u) | (diff[2] != 0 ? 4u : 0u) | (diff[3] != 0 ? 8u : 0u);
#endif
}

// Index one past the highest set bit of a non-zero mask.
inline uint32_t EndOfMask(uint32_t mask) { return 32 - static_cast<uint32_t>(__builtin_clz(mask)); }

// Converts n pixels and writes, four at a time, only the ones that differ
// from dst. Returns the changed pixels as [*first, end); 0 = none.
template <typename Conv>
inline uint32_t UpdateSegment(const uint8_t* src, uint8_t* dst, uint32_t n, uint32_t* first) {
  uint32_t end = 0;
  uint32_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const Quad value = Conv::Quads(src + i * Conv::kBpp);
    const uint32_t lanes = ChangedLanes(value ^ LoadQuad(dst + i * 4));
    if (lanes != 0) {
      StoreQuad(dst + i * 4, value);
      if (end == 0) *first = i + static_cast<uint32_t>(__builtin_ctz(lanes));
      end = i + EndOfMask(lanes);
    }
  }
  for (; i < n; i++) {
    const uint32_t value = Conv::Pixel(src + i * Conv::kBpp);
    if (value != Load32(dst + i * 4)) {
      std::memcpy(dst + i * 4, &value, 4);
      if (end == 0) *first = i;
      end = i + 1;
    }
  }
  return end;
}

template <typename Conv>
inline void ConvertRow(const uint8_t* src, uint8_t* dst, uint32_t n) {
  uint32_t i = 0;
  for (; i + 4 <= n; i += 4) StoreQuad(dst + i * 4, Conv::Quads(src + i * Conv::kBpp));
  for (; i < n; i++) {
    const uint32_t value = Conv::Pixel(src + i * Conv::kBpp);
    std::memcpy(dst + i * 4, &value, 4);
  }
}

// One source row against one surface row: converts, writes the pixels that
// differ, and widens boxes[tx] (row `row` of the tile band) by each tile
// segment's changed pixels.
template <typename Conv>
void UpdateRowBaseline(const uint8_t* src, uint8_t* dst, uint32_t width, uint32_t tile, TileBox* boxes, uint32_t row) {
  for (uint32_t tx = 0, x = 0; x < width; tx++, x += tile) {
    const uint32_t n = x + tile < width ? tile : width - x;
    uint32_t first = 0;
    const uint32_t end =
        UpdateSegment<Conv>(src + static_cast<uint64_t>(x) * Conv::kBpp, dst + static_cast<uint64_t>(x) * 4, n, &first);
    if (end != 0) Widen(&boxes[tx], first, end, row);
  }
}

#if VGPU_HAVE_AVX2
// Pixels of two eight-pixel differences that are non-zero, as bits 0..15.
VGPU_AVX2 inline uint32_t ChangedLanes16(__m256i d0, __m256i d1) {
  const __m256i zero = _mm256_setzero_si256();
  const uint32_t same = static_cast<uint32_t>(_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(d0, zero)))) |
                        static_cast<uint32_t>(_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(d1, zero)))) << 8;
  return ~same & 0xffffu;
}

VGPU_AVX2 inline uint32_t ChangedLanes8(__m256i d) {
  const uint32_t same =
      static_cast<uint32_t>(_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(d, _mm256_setzero_si256()))));
  return ~same & 0xffu;
}

constexpr uint32_t kNone = 0xffffffffu;

// Widens a tile's box by one row's changed pixels: from `first` to the end of
// the changed lanes of the group at `last_at` (its differences in `last`).
VGPU_AVX2 inline void FlushSegment(TileBox* box, uint32_t x, uint32_t first, uint32_t last_at, const uint32_t* last,
                                   uint32_t row) {
  const uint32_t lanes = ChangedLanes16(_mm256_load_si256(reinterpret_cast<const __m256i*>(last)),
                                        _mm256_load_si256(reinterpret_cast<const __m256i*>(last) + 1));
  Widen(box, first - x, last_at + EndOfMask(lanes) - x, row);
}

// Same contract; eight pixels per step. A group is only loaded while its
// Conv::kOctRead bytes stay inside the row (never past the plane). When tiles
// are a multiple of 16 pixels wide, the row's 16-pixel groups run as one loop
// (no per-tile work unless something changed); the rest of the row, and rows
// of other tile sizes, go segment by segment.
// Converts the 16 source pixels at pixel x, compares them with the surface's and stores them
// where they differ. False (and *d0/*d1 all zero bits) when the surface had them already.
template <typename Conv>
VGPU_AVX2 inline bool UpdateSixteen(const uint8_t* src, uint8_t* dst, uint32_t x, __m256i* d0, __m256i* d1) {
  __m256i v0, v1;
  Conv::Sixteen(src + static_cast<uint64_t>(x) * Conv::kBpp, &v0, &v1);
  __m256i* at = reinterpret_cast<__m256i*>(dst + static_cast<uint64_t>(x) * 4);
  *d0 = _mm256_xor_si256(v0, _mm256_loadu_si256(at));
  *d1 = _mm256_xor_si256(v1, _mm256_loadu_si256(at + 1));
  const __m256i diff = _mm256_or_si256(*d0, *d1);
  if (_mm256_testz_si256(diff, diff)) return false;
  _mm256_storeu_si256(at, v0);
  _mm256_storeu_si256(at + 1, v1);
  return true;
}

template <typename Conv>
VGPU_AVX2 void UpdateRowAvx2(const uint8_t* src, uint8_t* dst, uint32_t width, uint32_t tile, TileBox* boxes, uint32_t row) {
  const uint64_t row_bytes = static_cast<uint64_t>(width) * Conv::kBpp;
  uint32_t i = 0;
  if (tile % 16 == 0) {
    // The segment being collected: changed pixels [first, last group's end), first == kNone: none.
    uint32_t seg = 0, seg_end = tile, first = kNone, last_at = 0;
    alignas(32) uint32_t last[16] = {};  // the last changed group's differences
    for (; i + 16 <= width && static_cast<uint64_t>(i + 8) * Conv::kBpp + Conv::kOctRead <= row_bytes; i += 16) {
      __m256i d0, d1;
      if (UpdateSixteen<Conv>(src, dst, i, &d0, &d1)) {
        if (i >= seg_end) {
          if (first != kNone) FlushSegment(&boxes[seg], seg * tile, first, last_at, last, row);
          seg = i / tile;
          seg_end = seg * tile + tile;
          first = kNone;
        }
        if (first == kNone) first = i + static_cast<uint32_t>(__builtin_ctz(ChangedLanes16(d0, d1)));
        last_at = i;
        _mm256_store_si256(reinterpret_cast<__m256i*>(last), d0);
        _mm256_store_si256(reinterpret_cast<__m256i*>(last) + 1, d1);
      }
    }
    if (first != kNone) FlushSegment(&boxes[seg], seg * tile, first, last_at, last, row);
  }
  // What is left, tile segment by tile segment from the one holding i.
  for (uint32_t tx = i / tile, x = tx * tile; x < width; tx++, x += tile) {
    const uint32_t end = x + tile < width ? x + tile : width;
    uint32_t first = 0, stop = 0;  // changed pixels [first, stop), stop 0 = none
    uint32_t j = x > i ? x : i;
    for (; j + 16 <= end && static_cast<uint64_t>(j + 8) * Conv::kBpp + Conv::kOctRead <= row_bytes; j += 16) {
      __m256i d0, d1;
      if (UpdateSixteen<Conv>(src, dst, j, &d0, &d1)) {
        const uint32_t lanes = ChangedLanes16(d0, d1);
        if (stop == 0) first = j + static_cast<uint32_t>(__builtin_ctz(lanes));
        stop = j + EndOfMask(lanes);
      }
    }
    for (; j + 8 <= end && static_cast<uint64_t>(j) * Conv::kBpp + Conv::kOctRead <= row_bytes; j += 8) {
      const __m256i value = reinterpret_cast<__m256i>(Conv::Octs(src + static_cast<uint64_t>(j) * Conv::kBpp));
      __m256i* at = reinterpret_cast<__m256i*>(dst + static_cast<uint64_t>(j) * 4);
      const __m256i diff = _mm256_xor_si256(value, _mm256_loadu_si256(at));
      if (!_mm256_testz_si256(diff, diff)) {
        _mm256_storeu_si256(at, value);
        const uint32_t lanes = ChangedLanes8(diff);
        if (stop == 0) first = j + static_cast<uint32_t>(__builtin_ctz(lanes));
        stop = j + EndOfMask(lanes);
      }
    }
    for (; j < end; j++) {
      const uint32_t value = Conv::Pixel(src + static_cast<uint64_t>(j) * Conv::kBpp);
      if (value != Load32(dst + static_cast<uint64_t>(j) * 4)) {
        std::memcpy(dst + static_cast<uint64_t>(j) * 4, &value, 4);
        if (stop == 0) first = j;
        stop = j + 1;
      }
    }
    if (stop != 0) Widen(&boxes[tx], first - x, stop - x, row);
  }
}

template <typename Conv>
VGPU_AVX2 void ConvertRowAvx2(const uint8_t* src, uint8_t* dst, uint32_t width) {
  const uint64_t row_bytes = static_cast<uint64_t>(width) * Conv::kBpp;
  uint32_t i = 0;
  for (; i + 16 <= width && static_cast<uint64_t>(i + 8) * Conv::kBpp + Conv::kOctRead <= row_bytes; i += 16) {
    __m256i v0, v1;
    Conv::Sixteen(src + static_cast<uint64_t>(i) * Conv::kBpp, &v0, &v1);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + static_cast<uint64_t>(i) * 4), v0);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + static_cast<uint64_t>(i) * 4) + 1, v1);
  }
  for (; i + 8 <= width && static_cast<uint64_t>(i) * Conv::kBpp + Conv::kOctRead <= row_bytes; i += 8) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + static_cast<uint64_t>(i) * 4),
                        reinterpret_cast<__m256i>(Conv::Octs(src + static_cast<uint64_t>(i) * Conv::kBpp)));
  }
  for (; i < width; i++) {
    const uint32_t value = Conv::Pixel(src + static_cast<uint64_t>(i) * Conv::kBpp);
    std::memcpy(dst + static_cast<uint64_t>(i) * 4, &value, 4);
  }
}

bool CpuHasAvx2() {
  static const bool has = __builtin_cpu_supports("avx2");
  return has;
}
#else
bool CpuHasAvx2() { return false; }
#endif

// Source bytes of plane row y: in place when linear, de-tiled into the
// job's scratch row otherwise.
template <typename Conv>
inline const uint8_t* SourceRow(const CaptureJob& job, uint32_t y) {
  if (job.tiling == Tiling::kLinear) return job.src + y * job.src_stride;
  DetileRow(job.tiling, job.src, job.src_stride, y, static_cast<uint64_t>(job.width) * Conv::kBpp, job.scratch);
  return job.scratch;
}

// Bounds bytes fit tile sizes up to 255; larger tiles get none (all 0 = whole tile).
constexpr uint32_t kMaxBoundsTile = 255;

// Full pass: every tile's bounds are the whole tile, clipped to the surface.
void WholeTileBounds(const CaptureJob& job) {
  const uint32_t tile = job.tile_size;
  const uint64_t count = static_cast<uint64_t>(job.tiles_x) * job.tiles_y;
  if (tile > kMaxBoundsTile) {
    std::memset(job.bounds, 0, count * 4);
    return;
  }
  for (uint32_t ty = 0; ty < job.tiles_y; ty++) {
    const uint32_t h = ty * tile + tile <= job.height ? tile : job.height - ty * tile;
    uint8_t* out = job.bounds + static_cast<uint64_t>(ty) * job.tiles_x * 4;
    for (uint32_t tx = 0; tx < job.tiles_x; tx++, out += 4) {
      const uint32_t w = tx * tile + tile <= job.width ? tile : job.width - tx * tile;
      out[0] = 0;
      out[1] = 0;
      out[2] = static_cast<uint8_t>(w);
      out[3] = static_cast<uint8_t>(h);
    }
  }
}

// One tile band's boxes into job.bounds (all 0 for clean tiles).
void WriteBandBounds(const CaptureJob& job, uint32_t ty, const TileBox* boxes) {
  uint8_t* out = job.bounds + static_cast<uint64_t>(ty) * job.tiles_x * 4;
  const bool fits = job.tile_size <= kMaxBoundsTile;
  for (uint32_t tx = 0; tx < job.tiles_x; tx++, out += 4) {
    const TileBox& box = boxes[tx];
    if (box.x1 == 0 || !fits) {
      std::memset(out, 0, 4);
      continue;
    }
    out[0] = static_cast<uint8_t>(box.x0);
    out[1] = static_cast<uint8_t>(box.y0);
    out[2] = static_cast<uint8_t>(box.x1);
    out[3] = static_cast<uint8_t>(box.y1);
  }
}

// Converts, compares and stores source pixels [x0, x1) of one row; x0 is a multiple of the tile
// size, so the kernels' tile-local boxes stay right.
template <typename Conv>
inline void UpdateRange(const uint8_t* src_row, uint8_t* dst_row, uint32_t x0, uint32_t x1, uint32_t tile,
                        TileBox* boxes, uint32_t row, bool avx2) {
  const uint8_t* src = src_row + static_cast<uint64_t>(x0) * Conv::kBpp;
  uint8_t* dst = dst_row + static_cast<uint64_t>(x0) * 4;
  TileBox* at = boxes + x0 / tile;
#if VGPU_HAVE_AVX2
  if (avx2) {
    UpdateRowAvx2<Conv>(src, dst, x1 - x0, tile, at, row);
    return;
  }
#else
  (void)avx2;
#endif
  UpdateRowBaseline<Conv>(src, dst, x1 - x0, tile, at, row);
}

// ---- Source signatures (CaptureJob::src_sigs) ----
// A signature is a 64-bit hash of a segment's canonical pixels: of the surface's words, or, the
// same value, of the source converted. Each stored value is one of
//   0            unknown;
//   kChanging    the segment changed in the last pass: compare it again, don't hash it;
//   a signature  (never 0 or 1) of what the surface holds there.
// A segment with a signature is hashed from the source; if that matches, the surface is not
// touched. Any other segment is converted, compared and stored exactly as without signatures;
// if none of its pixels changed in this row it is then signed from the surface just compared
// (so the signature is of the very pixels the surface holds, even while the guest writes the
// source under the capture), else it is kChanging. A static screen costs one hash of the source
// per pass, full-screen motion no hash at all, and a change is compared once more before it is
// signed again.
// The hash: stripes of 16 pixels (64 bytes) accumulate like XXH3 (per 64-bit lane, the
// neighbour lane's input added as is and lo32*hi32 of the own input xor a key, keys sliding by
// one lane per stripe); the last stripe is zero-padded; the length is mixed in.

constexpr uint64_t kChanging = 1;
constexpr uint32_t kSigStripe = 16;  // pixels
// Stripe s takes keys [s, s + 8); the merge the last 8.
constexpr uint32_t kMergeKeys = kMaxSigSegment / kSigStripe + 8;

struct SigKeys {
  uint64_t w[kMergeKeys + 8];
};

// Fixed pseudo-random keys (splitmix64), made at compile time.
constexpr SigKeys MakeSigKeys() {
  SigKeys keys{};
  uint64_t x = 0x5851F42D4C957F2Dull;
  for (uint64_t& w : keys.w) {
    x += 0x9E3779B97F4A7C15ull;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    w = z ^ (z >> 31);
  }
  return keys;
}
constexpr SigKeys kSigKeys = MakeSigKeys();

// XXH3's initial accumulators.
constexpr uint64_t kInitAcc[8] = {0xC2B2AE3Dull,         0x9E3779B185EBCA87ull, 0xC2B2AE3D27D4EB4Full,
                                  0x165667B19E3779F9ull, 0x85EBCA77C2B2AE63ull, 0x85EBCA77ull,
                                  0x27D4EB2F165667C5ull, 0x9E3779B1ull};

inline void StripeScalar(uint64_t* acc, const uint32_t* words, const uint64_t* key) {
  for (int i = 0; i < 8; i++) {
    const uint64_t d = static_cast<uint64_t>(words[2 * i]) | static_cast<uint64_t>(words[2 * i + 1]) << 32;
    const uint64_t dk = d ^ key[i];
    acc[i ^ 1] += d;
    acc[i] += (dk & 0xffffffffu) * (dk >> 32);
  }
}

inline uint64_t Fold64(uint64_t a, uint64_t b) {
  const __uint128_t product = static_cast<__uint128_t>(a) * b;
  return static_cast<uint64_t>(product) ^ static_cast<uint64_t>(product >> 64);
}

// The lanes and the length into one value (XXH3's merge and avalanche), never 0 or kChanging.
inline uint64_t MergeLanes(const uint64_t* acc, uint32_t n) {
  uint64_t h = n * 0x9E3779B185EBCA87ull;
  for (int i = 0; i < 8; i += 2) h += Fold64(acc[i] ^ kSigKeys.w[kMergeKeys + i], acc[i + 1] ^ kSigKeys.w[kMergeKeys + i + 1]);
  h ^= h >> 37;
  h *= 0x165667919E3779F9ull;
  h ^= h >> 32;
  return h <= kChanging ? h + 2 : h;
}

// Pixels [i, min(i + 16, n)) of src converted into words, the rest of the stripe 0.
template <typename Conv>
inline void ConvertStripe(const uint8_t* src, uint32_t i, uint32_t n, uint32_t* words) {
  const uint32_t m = n - i < kSigStripe ? n - i : kSigStripe;
  uint32_t j = 0;
  for (; j + 4 <= m; j += 4) StoreQuad(reinterpret_cast<uint8_t*>(words + j), Conv::Quads(src + (i + j) * Conv::kBpp));
  for (; j < m; j++) words[j] = Conv::Pixel(src + (i + j) * Conv::kBpp);
  for (; j < kSigStripe; j++) words[j] = 0;
}

#if defined(__SSE2__)
// Two lanes of a stripe (four pixels) at a time: StripeScalar in SSE2.
inline __m128i AccumulateSse2(__m128i acc, __m128i d, const uint64_t* key) {
  const __m128i dk = _mm_xor_si128(d, _mm_loadu_si128(reinterpret_cast<const __m128i*>(key)));
  const __m128i product = _mm_mul_epu32(dk, _mm_srli_epi64(dk, 32));
  const __m128i neighbour = _mm_shuffle_epi32(d, _MM_SHUFFLE(1, 0, 3, 2));  // lane i gets lane i^1
  return _mm_add_epi64(acc, _mm_add_epi64(product, neighbour));
}
#endif

// Signature of n pixels of src converted by Conv, without AVX2 (SSE2 on any x86-64, plain C++
// elsewhere; the same value).
template <typename Conv>
uint64_t PixelSigPortable(const uint8_t* src, uint32_t n) {
  alignas(16) uint64_t acc[8];
  alignas(16) uint32_t words[kSigStripe];
#if defined(__SSE2__)
  __m128i lanes[4];
  for (int q = 0; q < 4; q++) lanes[q] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kInitAcc + 2 * q));
  for (uint32_t i = 0, s = 0; i < n; i += kSigStripe, s++) {
    const bool whole = i + kSigStripe <= n;
    if (!whole) ConvertStripe<Conv>(src, i, n, words);
    for (uint32_t q = 0; q < 4; q++) {
      const __m128i d = whole ? reinterpret_cast<__m128i>(Conv::Quads(src + (i + 4 * q) * Conv::kBpp))
                              : _mm_load_si128(reinterpret_cast<const __m128i*>(words + 4 * q));
      lanes[q] = AccumulateSse2(lanes[q], d, kSigKeys.w + s + 2 * q);
    }
  }
  for (int q = 0; q < 4; q++) _mm_store_si128(reinterpret_cast<__m128i*>(acc + 2 * q), lanes[q]);
#else
  std::memcpy(acc, kInitAcc, sizeof acc);
  for (uint32_t i = 0, s = 0; i < n; i += kSigStripe, s++) {
    ConvertStripe<Conv>(src, i, n, words);
    StripeScalar(acc, words, kSigKeys.w + s);
  }
#endif
  return MergeLanes(acc, n);
}

#if VGPU_HAVE_AVX2
VGPU_AVX2 inline __m256i AccumulateAvx2(__m256i acc, __m256i d, const uint64_t* key) {
  const __m256i dk = _mm256_xor_si256(d, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(key)));
  const __m256i product = _mm256_mul_epu32(dk, _mm256_srli_epi64(dk, 32));
  const __m256i neighbour = _mm256_shuffle_epi32(d, _MM_SHUFFLE(1, 0, 3, 2));  // lane i gets lane i^1
  return _mm256_add_epi64(acc, _mm256_add_epi64(product, neighbour));
}

// The same value with AVX2, the lanes kept in two registers (round trips through memory stall
// store forwarding). `readable`: source bytes from src to the end of the row (the 16-pixel loads
// of some formats read a little past their pixels).
template <typename Conv>
VGPU_AVX2 inline uint64_t PixelSigAvx2(const uint8_t* src, uint32_t n, uint64_t readable) {
  __m256i a0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kInitAcc));
  __m256i a1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kInitAcc + 4));
  uint32_t i = 0, s = 0;
  for (; i + kSigStripe <= n && static_cast<uint64_t>(i + 8) * Conv::kBpp + Conv::kOctRead <= readable;
       i += kSigStripe, s++) {
    __m256i v0, v1;
    Conv::Sixteen(src + static_cast<uint64_t>(i) * Conv::kBpp, &v0, &v1);
    a0 = AccumulateAvx2(a0, v0, kSigKeys.w + s);
    a1 = AccumulateAvx2(a1, v1, kSigKeys.w + s + 4);
  }
  alignas(32) uint32_t words[kSigStripe];
  for (; i < n; i += kSigStripe, s++) {
    ConvertStripe<Conv>(src, i, n, words);
    a0 = AccumulateAvx2(a0, _mm256_load_si256(reinterpret_cast<const __m256i*>(words)), kSigKeys.w + s);
    a1 = AccumulateAvx2(a1, _mm256_load_si256(reinterpret_cast<const __m256i*>(words) + 1), kSigKeys.w + s + 4);
  }
  alignas(32) uint64_t acc[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(acc), a0);
  _mm256_store_si256(reinterpret_cast<__m256i*>(acc) + 1, a1);
  return MergeLanes(acc, n);
}
#endif

// Signature of n pixels of src converted by Conv (the surface's own words: FromXRGB8888).
template <typename Conv>
inline uint64_t PixelSig(const uint8_t* src, uint32_t n, uint64_t readable, bool avx2) {
#if VGPU_HAVE_AVX2
  if (avx2) return PixelSigAvx2<Conv>(src, n, readable);
#else
  (void)avx2;
  (void)readable;
#endif
  return PixelSigPortable<Conv>(src, n);
}

// Segment hashes of surface rows [y0, y1) for the tile columns marked in cols (all when cols is
// nullptr): the signatures' hash (AVX2 where the CPU has it; bench capture sigs, 1080p, every
// pixel changed, with the history: 2.9x -> 2.5x memcpy against the scalar hash it replaced).
inline void HashSegments(const CaptureJob& job, uint32_t y0, uint32_t y1, const uint8_t* cols) {
  const uint32_t tile = job.tile_size;
  const uint64_t dst_stride = static_cast<uint64_t>(job.width) * 4;
  const bool avx2 = CpuHasAvx2();
  for (uint32_t y = y0; y < y1; y++) {
    const uint8_t* row = job.surface + y * dst_stride;
    uint8_t* out = job.seg_hashes + static_cast<uint64_t>(y) * job.tiles_x * 8;
    for (uint32_t tx = 0, x = 0; tx < job.tiles_x; tx++, x += tile) {
      if (cols != nullptr && !cols[tx]) continue;
      const uint32_t n = x + tile < job.width ? tile : job.width - x;
      // n <= kMaxSigSegment, as PixelSig needs: tiles are at most that (capture.cc, static_assert).
      const uint64_t hash = PixelSig<FromXRGB8888>(row + static_cast<uint64_t>(x) * 4, n, static_cast<uint64_t>(n) * 4, avx2);
      std::memcpy(out + static_cast<uint64_t>(tx) * 8, &hash, 8);
    }
  }
}

inline uint8_t* SigAt(const CaptureJob& job, uint32_t y, uint32_t s) {
  return job.src_sigs + (static_cast<uint64_t>(y) * job.sig_segs_x + s) * 8;
}

inline uint64_t LoadSig(const CaptureJob& job, uint32_t y, uint32_t s) {
  uint64_t sig;
  std::memcpy(&sig, SigAt(job, y, s), 8);
  return sig;
}

// Signs segment s of surface row y from the surface's pixels.
inline void SignSegment(const CaptureJob& job, const uint8_t* dst_row, uint32_t y, uint32_t s, bool avx2) {
  const uint32_t x = s * job.sig_segment;
  const uint32_t n = x + job.sig_segment < job.width ? job.sig_segment : job.width - x;
  const uint64_t sig = PixelSig<FromXRGB8888>(dst_row + static_cast<uint64_t>(x) * 4, n, static_cast<uint64_t>(n) * 4, avx2);
  std::memcpy(SigAt(job, y, s), &sig, 8);
}

// Segments [s0, s1) of row y, which no signature vouched for: kept in old_rows (on its rows),
// converted, compared and stored as without signatures; each then kChanging if a pixel of it
// changed in this row (its tiles' boxes end at this row), else signed.
template <typename Conv>
void UpdateSegments(const CaptureJob& job, const uint8_t* src_row, uint8_t* dst_row, TileBox* boxes, uint32_t y,
                    uint32_t row, uint32_t s0, uint32_t s1, bool avx2) {
  const uint32_t x0 = s0 * job.sig_segment;
  const uint32_t x1 = s1 * job.sig_segment < job.width ? s1 * job.sig_segment : job.width;
  if (job.old_rows != nullptr && y % job.old_row_step == 0) {
    // Only what may change is kept; the rest of the row stays in the surface as it was.
    const uint64_t at = static_cast<uint64_t>(y / job.old_row_step) * job.width * 4 + static_cast<uint64_t>(x0) * 4;
    std::memcpy(job.old_rows + at, dst_row + static_cast<uint64_t>(x0) * 4, static_cast<uint64_t>(x1 - x0) * 4);
  }
  UpdateRange<Conv>(src_row, dst_row, x0, x1, job.tile_size, boxes, row, avx2);
  const uint32_t tiles_per_segment = job.sig_segment / job.tile_size;
  for (uint32_t s = s0; s < s1; s++) {
    const uint32_t tx0 = s * tiles_per_segment;
    const uint32_t tx1 = tx0 + tiles_per_segment < job.tiles_x ? tx0 + tiles_per_segment : job.tiles_x;
    bool changed = false;
    for (uint32_t tx = tx0; tx < tx1 && !changed; tx++) changed = boxes[tx].y1 == row + 1;
    if (changed) {
      std::memcpy(SigAt(job, y, s), &kChanging, 8);
    } else {
      SignSegment(job, dst_row, y, s, avx2);
    }
  }
}

// Whether segment s of the source row, converted, has the signature `sig` (not 0 or kChanging).
template <typename Conv>
inline bool SourceHasSig(const CaptureJob& job, const uint8_t* src_row, uint32_t s, uint64_t sig, bool avx2) {
  const uint32_t x = s * job.sig_segment;
  const uint32_t n = x + job.sig_segment < job.width ? job.sig_segment : job.width - x;
  const uint64_t at = static_cast<uint64_t>(x) * Conv::kBpp;
  return PixelSig<Conv>(src_row + at, n, static_cast<uint64_t>(job.width) * Conv::kBpp - at, avx2) == sig;
}

// Row y of a non-full pass with source signatures: segments whose source still has their
// signature are left alone (the surface is not read), runs of the others go to UpdateSegments.
template <typename Conv>
void UpdateRowWithSigs(const CaptureJob& job, const uint8_t* src_row, uint8_t* dst_row, TileBox* boxes, uint32_t y,
                       uint32_t row, bool avx2) {
  constexpr uint32_t kNoRun = 0xffffffffu;
  uint32_t run = kNoRun;  // first segment of the run being collected
  for (uint32_t s = 0; s < job.sig_segs_x; s++) {
    const uint64_t sig = LoadSig(job, y, s);
    if (sig <= kChanging || !SourceHasSig<Conv>(job, src_row, s, sig, avx2)) {
      if (run == kNoRun) run = s;
      continue;
    }
    if (run != kNoRun) UpdateSegments<Conv>(job, src_row, dst_row, boxes, y, row, run, s, avx2);
    run = kNoRun;
  }
  if (run != kNoRun) UpdateSegments<Conv>(job, src_row, dst_row, boxes, y, row, run, job.sig_segs_x, avx2);
}

template <typename Conv>
uint32_t CaptureWith(const CaptureJob& job) {
  const uint32_t tile = job.tile_size;
  const uint64_t dst_stride = static_cast<uint64_t>(job.width) * 4;
  const bool avx2 = CpuHasAvx2() && !job.portable;
  if (job.full) {
    for (uint32_t y = 0; y < job.height; y++) {
      const uint8_t* src_row = SourceRow<Conv>(job, y);
      uint8_t* dst_row = job.surface + y * dst_stride;
#if VGPU_HAVE_AVX2
      if (avx2) {
        ConvertRowAvx2<Conv>(src_row, dst_row, job.width);
      } else
#endif
      {
        ConvertRow<Conv>(src_row, dst_row, job.width);
      }
      if (job.src_sigs != nullptr) {
        for (uint32_t s = 0; s < job.sig_segs_x; s++) SignSegment(job, dst_row, y, s, avx2);
      }
    }
    if (job.seg_hashes != nullptr) HashSegments(job, 0, job.height, nullptr);
    const uint64_t count = static_cast<uint64_t>(job.tiles_x) * job.tiles_y;
    std::memset(job.dirty, 1, count);
    if (job.bounds != nullptr) WholeTileBounds(job);
    return static_cast<uint32_t>(count);
  }
  uint32_t dirty_count = 0;
  std::vector<TileBox> boxes(job.tiles_x);
  for (uint32_t ty = 0; ty < job.tiles_y; ty++) {
    uint8_t* band_dirty = job.dirty + static_cast<uint64_t>(ty) * job.tiles_x;
    std::fill(boxes.begin(), boxes.end(), TileBox{});
    const uint32_t y_end = ty * tile + tile < job.height ? ty * tile + tile : job.height;
    // One pass over the band, row by row, so each source line is read once.
    for (uint32_t y = ty * tile; y < y_end; y++) {
      const uint8_t* src_row = SourceRow<Conv>(job, y);
      uint8_t* dst_row = job.surface + y * dst_stride;
      if (job.old_rows != nullptr && y % job.old_row_step == 0 && job.src_sigs == nullptr) {
        std::memcpy(job.old_rows + static_cast<uint64_t>(y / job.old_row_step) * dst_stride, dst_row, dst_stride);
      }
      const uint32_t row = y - ty * tile;
      if (job.src_sigs != nullptr) {
        UpdateRowWithSigs<Conv>(job, src_row, dst_row, boxes.data(), y, row, avx2);
      } else {
        UpdateRange<Conv>(src_row, dst_row, 0, job.width, tile, boxes.data(), row, avx2);
      }
    }
    uint32_t band_count = 0;
    for (uint32_t tx = 0; tx < job.tiles_x; tx++) {
      const TileBox& box = boxes[tx];
      band_dirty[tx] = box.x1 != 0 ? 1 : 0;
      band_count += band_dirty[tx];
    }
    if (job.bounds != nullptr) WriteBandBounds(job, ty, boxes.data());
    // While the band is still in cache.
    if (job.seg_hashes != nullptr && (band_count > 0 || job.hash_all_segments))
      HashSegments(job, ty * tile, y_end, job.hash_all_segments ? nullptr : band_dirty);
    dirty_count += band_count;
  }
  return dirty_count;
}

// Whether n source pixels convert to exactly the n surface pixels at dst.
template <typename Conv>
inline bool RowEquals(const uint8_t* src, const uint8_t* dst, uint32_t n) {
  uint32_t i = 0;
  for (; i + 4 <= n; i += 4) {
    if (AnyNonZero(Conv::Quads(src + i * Conv::kBpp) ^ LoadQuad(dst + i * 4))) return false;
  }
  for (; i < n; i++) {
    if (Conv::Pixel(src + i * Conv::kBpp) != Load32(dst + i * 4)) return false;
  }
  return true;
}

template <typename Conv>
bool ProbeWith(const CaptureJob& job) {
  const bool avx2 = !job.portable && CpuHasAvx2();
  const uint64_t dst_stride = static_cast<uint64_t>(job.width) * 4;
  const uint64_t row_bytes = static_cast<uint64_t>(job.width) * Conv::kBpp;
  for (uint32_t y = job.phase; y < job.height; y += job.row_step) {
    const uint8_t* src_row;
    if (job.tiling == Tiling::kLinear) {
      src_row = job.src + y * job.src_stride;
    } else {
      DetileRow(job.tiling, job.src, job.src_stride, y, row_bytes, job.scratch);
      src_row = job.scratch;
    }
    const uint8_t* surface_row = job.surface + y * dst_stride;
    for (uint32_t s = 0; s < job.sig_segs_x; s++) {
      const uint64_t sig = LoadSig(job, y, s);
      if (sig > kChanging && SourceHasSig<Conv>(job, src_row, s, sig, avx2)) continue;
      // Unknown, changed last pass, or stale: the surface decides.
      const uint32_t x = s * job.sig_segment;
      const uint32_t n = x + job.sig_segment < job.width ? job.sig_segment : job.width - x;
      if (!RowEquals<Conv>(src_row + static_cast<uint64_t>(x) * Conv::kBpp, surface_row + static_cast<uint64_t>(x) * 4, n))
        return true;
      // Signed from the surface, not the source: the guest may write the row meanwhile.
      SignSegment(job, surface_row, y, s, avx2);
    }
  }
  return false;
}

// Calls fn.template operator()<Conv>() with the converter for format.
template <typename Fn>
auto WithConverter(PixelFormat format, Fn&& fn) {
  switch (format) {
    case PixelFormat::XRGB8888:
    case PixelFormat::ARGB8888: return fn(FromXRGB8888{});
    case PixelFormat::XBGR8888:
    case PixelFormat::ABGR8888: return fn(FromXBGR8888{});
    case PixelFormat::RGBX8888: return fn(FromRGBX8888{});
    case PixelFormat::BGRX8888: return fn(FromBGRX8888{});
    case PixelFormat::RGB888: return fn(FromRGB888{});
    case PixelFormat::BGR888: return fn(FromBGR888{});
    case PixelFormat::RGB565: return fn(FromRGB565{});
    case PixelFormat::XRGB2101010: return fn(FromXRGB2101010{});
    case PixelFormat::XBGR2101010: return fn(FromXBGR2101010{});
  }
  return fn(FromXRGB8888{});
}

}  // namespace

bool ProbeFindsChange(const CaptureJob& job) {
  return WithConverter(job.format, [&](auto conv) { return ProbeWith<decltype(conv)>(job); });
}

uint32_t RunCaptureOrProbe(const CaptureJob& job, ProbeOutcome* outcome) {
  *outcome = ProbeOutcome{};
  if (job.probe && job.src_sigs != nullptr && !job.full) {
    outcome->changed = ProbeFindsChange(job);
    outcome->probe_only = !outcome->changed || !job.full_pass_on_change;
  }
  if (!outcome->probe_only) return RunCapture(job);
  std::memset(job.dirty, 0, static_cast<uint64_t>(job.tiles_x) * job.tiles_y);
  if (job.bounds != nullptr) std::memset(job.bounds, 0, static_cast<uint64_t>(job.tiles_x) * job.tiles_y * 4);
  return 0;
}

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
