#include "capture_core.h"

#include <cstdio>
#include <cstring>

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

// Converts n pixels and writes, four at a time, only the ones that differ
// from dst. Returns whether anything was written.
template <typename Conv>
inline bool UpdateSegment(const uint8_t* src, uint8_t* dst, uint32_t n) {
  bool changed = false;
  uint32_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const Quad value = Conv::Quads(src + i * Conv::kBpp);
    if (AnyNonZero(value ^ LoadQuad(dst + i * 4))) {
      StoreQuad(dst + i * 4, value);
      changed = true;
    }
  }
  for (; i < n; i++) {
    const uint32_t value = Conv::Pixel(src + i * Conv::kBpp);
    if (value != Load32(dst + i * 4)) {
      std::memcpy(dst + i * 4, &value, 4);
      changed = true;
    }
  }
  return changed;
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
// differ, and sets band_dirty[tx] for every tile segment that had any.
template <typename Conv>
void UpdateRowBaseline(const uint8_t* src, uint8_t* dst, uint32_t width, uint32_t tile, uint8_t* band_dirty) {
  for (uint32_t tx = 0, x = 0; x < width; tx++, x += tile) {
    const uint32_t n = x + tile < width ? tile : width - x;
    if (UpdateSegment<Conv>(src + static_cast<uint64_t>(x) * Conv::kBpp, dst + static_cast<uint64_t>(x) * 4, n)) {
      band_dirty[tx] = 1;
    }
  }
}

#if VGPU_HAVE_AVX2
// Same contract; eight pixels per step. A group is only loaded while its
// Conv::kOctRead bytes stay inside the row (never past the plane).
template <typename Conv>
VGPU_AVX2 void UpdateRowAvx2(const uint8_t* src, uint8_t* dst, uint32_t width, uint32_t tile, uint8_t* band_dirty) {
  const uint64_t row_bytes = static_cast<uint64_t>(width) * Conv::kBpp;
  for (uint32_t tx = 0, x = 0; x < width; tx++, x += tile) {
    const uint32_t end = x + tile < width ? x + tile : width;
    bool changed = false;
    uint32_t i = x;
    // Sixteen pixels (one 64-byte line of the surface) per test and store.
    for (; i + 16 <= end && static_cast<uint64_t>(i + 8) * Conv::kBpp + Conv::kOctRead <= row_bytes; i += 16) {
      __m256i v0, v1;
      Conv::Sixteen(src + static_cast<uint64_t>(i) * Conv::kBpp, &v0, &v1);
      __m256i* at = reinterpret_cast<__m256i*>(dst + static_cast<uint64_t>(i) * 4);
      const __m256i diff = _mm256_or_si256(_mm256_xor_si256(v0, _mm256_loadu_si256(at)),
                                           _mm256_xor_si256(v1, _mm256_loadu_si256(at + 1)));
      if (!_mm256_testz_si256(diff, diff)) {
        _mm256_storeu_si256(at, v0);
        _mm256_storeu_si256(at + 1, v1);
        changed = true;
      }
    }
    for (; i + 8 <= end && static_cast<uint64_t>(i) * Conv::kBpp + Conv::kOctRead <= row_bytes; i += 8) {
      const __m256i value = reinterpret_cast<__m256i>(Conv::Octs(src + static_cast<uint64_t>(i) * Conv::kBpp));
      __m256i* at = reinterpret_cast<__m256i*>(dst + static_cast<uint64_t>(i) * 4);
      const __m256i diff = _mm256_xor_si256(value, _mm256_loadu_si256(at));
      if (!_mm256_testz_si256(diff, diff)) {
        _mm256_storeu_si256(at, value);
        changed = true;
      }
    }
    for (; i < end; i++) {
      const uint32_t value = Conv::Pixel(src + static_cast<uint64_t>(i) * Conv::kBpp);
      if (value != Load32(dst + static_cast<uint64_t>(i) * 4)) {
        std::memcpy(dst + static_cast<uint64_t>(i) * 4, &value, 4);
        changed = true;
      }
    }
    if (changed) band_dirty[tx] = 1;
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

// Segment hashes of surface rows [y0, y1) for the tile columns marked in cols (all when cols is nullptr).
inline void HashSegments(const CaptureJob& job, uint32_t y0, uint32_t y1, const uint8_t* cols) {
  const uint32_t tile = job.tile_size;
  const uint64_t dst_stride = static_cast<uint64_t>(job.width) * 4;
  for (uint32_t y = y0; y < y1; y++) {
    const uint8_t* row = job.surface + y * dst_stride;
    uint8_t* out = job.seg_hashes + static_cast<uint64_t>(y) * job.tiles_x * 8;
    for (uint32_t tx = 0, x = 0; tx < job.tiles_x; tx++, x += tile) {
      if (cols != nullptr && !cols[tx]) continue;
      const uint32_t n = x + tile < job.width ? tile : job.width - x;
      const uint64_t hash = RowHash(row + static_cast<uint64_t>(x) * 4, static_cast<uint64_t>(n) * 4);
      std::memcpy(out + static_cast<uint64_t>(tx) * 8, &hash, 8);
    }
  }
}

template <typename Conv>
uint32_t CaptureWith(const CaptureJob& job) {
  const uint32_t tile = job.tile_size;
  const uint64_t dst_stride = static_cast<uint64_t>(job.width) * 4;
  const bool avx2 = CpuHasAvx2();
  if (job.full) {
    for (uint32_t y = 0; y < job.height; y++) {
      const uint8_t* src_row = SourceRow<Conv>(job, y);
      uint8_t* dst_row = job.surface + y * dst_stride;
#if VGPU_HAVE_AVX2
      if (avx2) {
        ConvertRowAvx2<Conv>(src_row, dst_row, job.width);
        continue;
      }
#endif
      ConvertRow<Conv>(src_row, dst_row, job.width);
    }
    if (job.seg_hashes != nullptr) HashSegments(job, 0, job.height, nullptr);
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
      const uint8_t* src_row = SourceRow<Conv>(job, y);
      uint8_t* dst_row = job.surface + y * dst_stride;
      if (job.old_rows != nullptr && y % job.old_row_step == 0) {
        std::memcpy(job.old_rows + static_cast<uint64_t>(y / job.old_row_step) * dst_stride, dst_row, dst_stride);
      }
#if VGPU_HAVE_AVX2
      if (avx2) {
        UpdateRowAvx2<Conv>(src_row, dst_row, job.width, tile, band_dirty);
        continue;
      }
#endif
      UpdateRowBaseline<Conv>(src_row, dst_row, job.width, tile, band_dirty);
    }
    uint32_t band_count = 0;
    for (uint32_t tx = 0; tx < job.tiles_x; tx++) band_count += band_dirty[tx];
    // While the band is still in cache.
    if (band_count > 0 && job.seg_hashes != nullptr) HashSegments(job, ty * tile, y_end, band_dirty);
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
    uint8_t* sig_at = job.row_sigs + static_cast<uint64_t>(y) * 8;
    uint64_t sig;
    std::memcpy(&sig, sig_at, 8);
    const uint64_t hash = RowHash(src_row, row_bytes);
    if (sig == hash) continue;
    // Unknown or stale (e.g. only ignored X bits moved): the surface decides.
    if (!RowEquals<Conv>(src_row, job.surface + y * dst_stride, job.width)) return true;
    std::memcpy(sig_at, &hash, 8);
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

constexpr uint64_t kPrime1 = 0x9E3779B185EBCA87ull;
constexpr uint64_t kPrime2 = 0xC2B2AE3D27D4EB4Full;
constexpr uint64_t kPrime3 = 0x165667B19E3779F9ull;

inline uint64_t Rotl(uint64_t v, int r) { return (v << r) | (v >> (64 - r)); }
inline uint64_t Round(uint64_t acc, uint64_t input) { return Rotl(acc + input * kPrime2, 31) * kPrime1; }

}  // namespace

uint64_t RowHash(const uint8_t* p, uint64_t n) {
  // Four independent lanes keep the multipliers busy; the row length is mixed in.
  uint64_t a = kPrime1 + kPrime2, b = kPrime2, c = 0, d = 0 - kPrime1;
  uint64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a = Round(a, Load64(p + i));
    b = Round(b, Load64(p + i + 8));
    c = Round(c, Load64(p + i + 16));
    d = Round(d, Load64(p + i + 24));
  }
  uint64_t h = Rotl(a, 1) + Rotl(b, 7) + Rotl(c, 12) + Rotl(d, 18) + n;
  for (; i + 8 <= n; i += 8) h = Rotl(h ^ Round(0, Load64(p + i)), 27) * kPrime1 + kPrime3;
  for (; i < n; i++) h = Rotl(h ^ (p[i] * kPrime1), 11) * kPrime2;
  h ^= h >> 33;
  h *= kPrime2;
  h ^= h >> 29;
  h *= kPrime3;
  h ^= h >> 32;
  return h == 0 ? 1 : h;
}

bool ProbeFindsChange(const CaptureJob& job) {
  return WithConverter(job.format, [&](auto conv) { return ProbeWith<decltype(conv)>(job); });
}

uint32_t RunCaptureOrProbe(const CaptureJob& job, ProbeOutcome* outcome) {
  *outcome = ProbeOutcome{};
  if (job.row_sigs != nullptr && !job.full) {
    outcome->changed = ProbeFindsChange(job);
    outcome->probe_only = !outcome->changed || !job.full_pass_on_change;
  }
  if (!outcome->probe_only) return RunCapture(job);
  std::memset(job.dirty, 0, static_cast<uint64_t>(job.tiles_x) * job.tiles_y);
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
