#include "tight_filter.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <zlib.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "buffer_pool.h"
#include "errors.h"
#include "zstream.h"

namespace vgpu {

namespace {

constexpr int kFilterCopy = 0;
constexpr int kFilterGradient = 2;
// Not on the wire: "copy or gradient, whichever a sample says" (batch items; see ChooseFilter).
constexpr int kFilterChoose = 3;

// What a job reads: either the canonical surface (XRGB8888 words, output as R,G,B TPIXELs)
// or pixels already in the client's format (`bytes` per pixel, output in that format).
struct ClientFormat {
  int bytes = 0;  // 1, 2 or 4
  bool big_endian = false;
  uint32_t max[3] = {0, 0, 0};
  int shift[3] = {0, 0, 0};
};

struct FilterJob {
  const uint8_t* src = nullptr;
  size_t stride = 0;  // bytes from one row of src to the next
  uint32_t x = 0, y = 0, w = 0, h = 0;
  int filter = kFilterCopy;
  bool surface = true;  // src is the XRGB8888 surface; else client pixels (format)
  ClientFormat format;

  size_t InBytesPerPixel() const { return surface ? 4 : static_cast<size_t>(format.bytes); }
  size_t OutBytesPerPixel() const { return surface ? 3 : static_cast<size_t>(format.bytes); }
  size_t OutBytes() const { return size_t{w} * h * OutBytesPerPixel(); }
  const uint8_t* Row(uint32_t r) const { return src + (size_t{y} + r) * stride + size_t{x} * InBytesPerPixel(); }
};

// ---- 24-bit TPIXEL from the surface ----

// R, G, B of one B,G,R,X pixel word, as the low three bytes (little-endian host).
inline uint32_t RgbBytes(uint32_t bgrx) { return __builtin_bswap32(bgrx) >> 8; }

// Writes 4 bytes (the 4th is overwritten by the next pixel) unless `last`: then exactly 3.
inline void StoreRgb(uint8_t* out, uint32_t rgb, bool last) { std::memcpy(out, &rgb, last ? 3 : 4); }

void CopyRgb24(const FilterJob& job, uint8_t* out) {
  for (uint32_t r = 0; r < job.h; r++) {
    const uint8_t* p = job.Row(r);
    const bool last_row = r + 1 == job.h;
    for (uint32_t i = 0; i < job.w; i++, p += 4, out += 3) {
      uint32_t v;
      std::memcpy(&v, p, 4);
      StoreRgb(out, RgbBytes(v), last_row && i + 1 == job.w);
    }
  }
}

inline uint8_t Clamp255(int v) { return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v); }

// Residual of one pixel (B,G,R,X bytes) given its three neighbours, written as R,G,B.
inline void GradientPixel24(const uint8_t* cur, const uint8_t* left, const uint8_t* above, const uint8_t* aboveleft,
                            uint8_t* out) {
  for (int c = 0; c < 3; c++) {
    const uint8_t pred = Clamp255(int{left[c]} + above[c] - aboveleft[c]);
    out[2 - c] = static_cast<uint8_t>(cur[c] - pred);
  }
}

void GradientRgb24(const FilterJob& job, uint8_t* out) {
  // The rows "above" the first one and the column left of the first are zero (rfbproto).
  std::vector<uint8_t> zero(size_t{job.w} * 4 + 4, 0);
  static const uint8_t kZero[4] = {0, 0, 0, 0};
  for (uint32_t r = 0; r < job.h; r++) {
    const uint8_t* cur = job.Row(r);
    const uint8_t* above = r > 0 ? job.Row(r - 1) : zero.data();
    GradientPixel24(cur, kZero, above, kZero, out);
    out += 3;
    uint32_t i = 1;
#if defined(__SSE2__)
    // Four pixels at a time: left + above − aboveleft in 16-bit lanes, then packus clamps
    // to 0..255 exactly as the filter wants, and a byte subtraction wraps modulo 256.
    const __m128i z = _mm_setzero_si128();
    alignas(16) uint8_t res[16];
    for (; i + 4 <= job.w; i += 4) {
      const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(cur + size_t{i} * 4));
      const __m128i l = _mm_loadu_si128(reinterpret_cast<const __m128i*>(cur + size_t{i - 1} * 4));
      const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(above + size_t{i} * 4));
      const __m128i al = _mm_loadu_si128(reinterpret_cast<const __m128i*>(above + size_t{i - 1} * 4));
      const __m128i lo = _mm_sub_epi16(_mm_add_epi16(_mm_unpacklo_epi8(l, z), _mm_unpacklo_epi8(a, z)),
                                       _mm_unpacklo_epi8(al, z));
      const __m128i hi = _mm_sub_epi16(_mm_add_epi16(_mm_unpackhi_epi8(l, z), _mm_unpackhi_epi8(a, z)),
                                       _mm_unpackhi_epi8(al, z));
      _mm_store_si128(reinterpret_cast<__m128i*>(res), _mm_sub_epi8(c, _mm_packus_epi16(lo, hi)));
      for (int k = 0; k < 4; k++, out += 3) {
        uint32_t v;
        std::memcpy(&v, res + k * 4, 4);
        StoreRgb(out, RgbBytes(v), k == 3);  // the 4th pixel's spare byte could be past the end
      }
    }
#endif
    for (; i < job.w; i++, out += 3) {
      GradientPixel24(cur + size_t{i} * 4, cur + size_t{i - 1} * 4, above + size_t{i} * 4, above + size_t{i - 1} * 4, out);
    }
  }
}

// ---- pixels in the client's format ----

inline uint32_t ReadPixel(const uint8_t* p, int bytes, bool big_endian) {
  switch (bytes) {
    case 1: return p[0];
    case 2: return big_endian ? (uint32_t{p[0]} << 8) | p[1] : (uint32_t{p[1]} << 8) | p[0];
    default:
      return big_endian ? (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3]
                        : (uint32_t{p[3]} << 24) | (uint32_t{p[2]} << 16) | (uint32_t{p[1]} << 8) | p[0];
  }
}

inline void WritePixel(uint8_t* p, uint32_t v, int bytes, bool big_endian) {
  for (int k = 0; k < bytes; k++) p[big_endian ? bytes - 1 - k : k] = static_cast<uint8_t>(v >> (8 * k));
}

void CopyPixels(const FilterJob& job, uint8_t* out) {
  const size_t row = size_t{job.w} * job.format.bytes;
  for (uint32_t r = 0; r < job.h; r++, out += row) std::memcpy(out, job.Row(r), row);
}

void GradientPixels(const FilterJob& job, uint8_t* out) {
  const ClientFormat& f = job.format;
  // Components of the previous row and of this one (3 per pixel), the previous starting at 0.
  std::vector<int32_t> prev(size_t{job.w} * 3, 0), cur(size_t{job.w} * 3, 0);
  for (uint32_t r = 0; r < job.h; r++) {
    const uint8_t* in = job.Row(r);
    for (uint32_t i = 0; i < job.w; i++, in += f.bytes, out += f.bytes) {
      const uint32_t v = ReadPixel(in, f.bytes, f.big_endian);
      uint32_t residual = 0;
      for (int c = 0; c < 3; c++) {
        const int32_t comp = static_cast<int32_t>((v >> f.shift[c]) & f.max[c]);
        const size_t k = size_t{i} * 3 + c;
        int32_t pred = prev[k];
        if (i > 0) pred += cur[k - 3] - prev[k - 3];
        pred = std::clamp<int32_t>(pred, 0, static_cast<int32_t>(f.max[c]));
        cur[k] = comp;
        residual |= (static_cast<uint32_t>(comp - pred) & f.max[c]) << f.shift[c];
      }
      WritePixel(out, residual, f.bytes, f.big_endian);
    }
    std::swap(prev, cur);
  }
}

void RunFilter(const FilterJob& job, uint8_t* out) {
  if (job.surface) {
    if (job.filter == kFilterGradient) GradientRgb24(job, out);
    else CopyRgb24(job, out);
  } else {
    if (job.filter == kFilterGradient) GradientPixels(job, out);
    else CopyPixels(job, out);
  }
}

// ---- arguments ----

bool ReadUint(Napi::Object o, const char* key, uint64_t max, uint64_t* out, std::string* error) {
  Napi::Value v = o.Get(key);
  if (!ToIndex(v, out) || *out > max) {
    *error = std::string("tightFilter: ") + key + " must be an integer in 0.." + std::to_string(max) + ", got " +
             ValueForMessage(v);
    return false;
  }
  return true;
}

// Parses and bounds-checks a job object; on failure returns false with a one-line message.
bool ParseJob(const Napi::Value& value, FilterJob* job, std::string* error, bool may_choose = false) {
  if (!value.IsObject()) {
    *error = "tightFilter: the job must be an object";
    return false;
  }
  Napi::Object o = value.As<Napi::Object>();
  Napi::Value src = o.Get("src");
  if (!src.IsTypedArray() || src.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    *error = "tightFilter: src must be a Buffer or Uint8Array";
    return false;
  }
  Napi::Uint8Array bytes = src.As<Napi::Uint8Array>();
  uint64_t stride, x, y, w, h, filter;
  constexpr uint64_t kMaxSide = 65535;
  if (!ReadUint(o, "stride", uint64_t{1} << 30, &stride, error) || !ReadUint(o, "x", kMaxSide, &x, error) ||
      !ReadUint(o, "y", kMaxSide, &y, error) || !ReadUint(o, "w", kMaxSide, &w, error) ||
      !ReadUint(o, "h", kMaxSide, &h, error) || !ReadUint(o, "filter", 3, &filter, error)) {
    return false;
  }
  if (filter != kFilterCopy && filter != kFilterGradient && !(may_choose && filter == kFilterChoose)) {
    *error = std::string("tightFilter: filter must be 0 (copy) or 2 (gradient)") + (may_choose ? " or 3 (choose)" : "") +
             ", got " + std::to_string(filter);
    return false;
  }
  job->filter = static_cast<int>(filter);
  Napi::Value format = o.Get("format");
  job->surface = format.IsUndefined();
  if (!job->surface) {
    if (!format.IsObject()) {
      *error = "tightFilter: format must be a pixel format object or undefined (the XRGB8888 surface)";
      return false;
    }
    Napi::Object f = format.As<Napi::Object>();
    uint64_t bpp;
    if (!ReadUint(f, "bitsPerPixel", 32, &bpp, error)) return false;
    if (bpp != 8 && bpp != 16 && bpp != 32) {
      *error = "tightFilter: bitsPerPixel must be 8, 16 or 32, got " + std::to_string(bpp);
      return false;
    }
    job->format.bytes = static_cast<int>(bpp / 8);
    job->format.big_endian = f.Get("bigEndian").ToBoolean().Value();
    const char* maxes[3] = {"redMax", "greenMax", "blueMax"};
    const char* shifts[3] = {"redShift", "greenShift", "blueShift"};
    for (int c = 0; c < 3; c++) {
      uint64_t m, s;
      if (!ReadUint(f, maxes[c], 65535, &m, error) || !ReadUint(f, shifts[c], bpp - 1, &s, error)) return false;
      if ((m & (m + 1)) != 0) {
        *error = std::string("tightFilter: ") + maxes[c] + " must be 2^n - 1, got " + std::to_string(m);
        return false;
      }
      job->format.max[c] = static_cast<uint32_t>(m);
      job->format.shift[c] = static_cast<int>(s);
    }
  }
  const uint64_t in_bpp = job->surface ? 4 : job->format.bytes;
  if (w > 0 && h > 0) {
    const uint64_t row_end = (x + w) * in_bpp;
    if (row_end > stride) {
      *error = "tightFilter: the rect's right edge (" + std::to_string(x + w) + " pixels) is past the stride";
      return false;
    }
    if ((y + h - 1) * stride + row_end > bytes.ByteLength()) {
      *error = "tightFilter: the rect's bottom edge (row " + std::to_string(y + h) + ") is past the end of src";
      return false;
    }
  }
  job->src = bytes.Data();
  job->stride = stride;
  job->x = static_cast<uint32_t>(x);
  job->y = static_cast<uint32_t>(y);
  job->w = static_cast<uint32_t>(w);
  job->h = static_cast<uint32_t>(h);
  return true;
}

// Deflated / raw size (level 1) of the job's filtered data in three ~2 KiB blocks of the rect
// (top left, centre, bottom right).
double SampleRatio(const FilterJob& job) {
  if (job.w == 0 || job.h == 0) return 1;
  const size_t want_pixels = 2048 / job.OutBytesPerPixel();
  const uint32_t bw = std::min<uint32_t>(job.w, 64);
  const uint32_t bh = std::min<uint32_t>(job.h, static_cast<uint32_t>(std::max<size_t>(1, (want_pixels + bw - 1) / bw)));
  const uint32_t xs[3] = {0, (job.w - bw) / 2, job.w - bw}, ys[3] = {0, (job.h - bh) / 2, job.h - bh};
  std::vector<uint8_t> filtered(size_t{bw} * bh * job.OutBytesPerPixel());
  size_t raw = 0, deflated = 0;
  for (int k = 0; k < 3; k++) {
    FilterJob block = job;
    block.x = job.x + xs[k];
    block.y = job.y + ys[k];
    block.w = bw;
    block.h = bh;
    RunFilter(block, filtered.data());
    raw += filtered.size();
    deflated += Level1DeflatedSize(filtered.data(), filtered.size());
  }
  return static_cast<double>(deflated) / static_cast<double>(raw);
}

// The gradient filter must deflate to at most this share of the copy's in the sample. Small
// samples flatter it: they cannot show the long repeats the real stream finds in copied pixels
// (the side-by-side bench's 512-colour plasma: samples say gradient is 10 % smaller, whole
// pieces say 5 % bigger), and it costs the viewer a pass over every pixel. Smooth pictures
// (photos, gradients) sample at 0.4–0.5 and keep it.
constexpr double kGradientMustSave = 0.8;

// kFilterChoose: the gradient filter when a sample of it deflates clearly smaller than the copy's.
int ChooseFilter(FilterJob job) {
  job.filter = kFilterGradient;
  const double gradient = SampleRatio(job);
  job.filter = kFilterCopy;
  return gradient <= kGradientMustSave * SampleRatio(job) ? kFilterGradient : kFilterCopy;
}

// One input of a stream's batch: a filter job, or bytes sent as they are.
struct StreamItem {
  bool is_job = false;
  FilterJob job;
  const uint8_t* bytes = nullptr;
  size_t len = 0;
  size_t Size() const { return is_job ? job.OutBytes() : len; }
};

// Every input of one zlib stream in a batch, in order: each filtered, then deflated with a
// sync flush (one chunk each, parallel when big), all in one job off the JS thread.
class StreamBatchWorker : public Napi::AsyncWorker {
 public:
  StreamBatchWorker(Napi::Env env, std::vector<StreamItem>&& items, const Napi::Array& items_object, ZStream* stream,
                    const Napi::Object& stream_object)
      : Napi::AsyncWorker(env, "vgpu-vnc:tight-stream"),
        deferred_(Napi::Promise::Deferred::New(env)),
        items_(std::move(items)),
        stream_(stream) {
    items_ref_ = Napi::Persistent(static_cast<Napi::Object>(items_object));
    stream_ref_ = Napi::Persistent(stream_object);
  }

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    filters_.assign(items_.size(), -1);
    for (size_t i = 0; i < items_.size(); i++) {
      if (!items_[i].is_job) continue;
      FilterJob& job = items_[i].job;
      if (job.filter == kFilterChoose) job.filter = ChooseFilter(job);
      filters_[i] = job.filter;
    }
    // One DeflateToVector per item (big ones go parallel in it): DeflateSegments over the
    // whole batch cost more CPU (32 items of 196 KB, process CPU time: stored 48 vs 18 ms,
    // level 1 163..220 vs 165 ms).
    // The chunks go end to end into one buffer, through one scratch vector: a fresh vector
    // per chunk, kept until JS frees it, page-faulted its zero fill in anew every batch
    // (noise: 3x the CPU of the synchronous path).
    sizes_.assign(items_.size(), 0);
    size_t total = 0;
    for (const StreamItem& item : items_) total += item.Size();
    // From the pool, handed to JS without a copy and back to the pool once the session has
    // written it (recycleBuffer): a fresh buffer per batch is page faults and GC pressure.
    all_ = TakeBuffer(total + total / 128 + 64 * items_.size() + 64);  // deflate's worst case is a little over
    used_ = 0;
    // Scratch kept by each pool thread: fresh big vectors cost a page fault per 4 KiB.
    thread_local std::vector<uint8_t> filtered, chunk;
    for (size_t i = 0; i < items_.size(); i++) {
      const StreamItem& item = items_[i];
      const uint8_t* in = item.bytes;
      if (item.is_job) {
        filtered.resize(item.job.OutBytes());
        RunFilter(item.job, filtered.data());
        in = filtered.data();
      }
      std::string error;
      if (!stream_->DeflateToVector(in, item.Size(), chunk, &error)) {
        SetError(error);
        return;
      }
      if (used_ + chunk.size() > all_.size()) all_.resize(used_ + chunk.size());
      std::memcpy(all_.data() + used_, chunk.data(), chunk.size());
      used_ += chunk.size();
      sizes_[i] = chunk.size();
    }
  }

  void OnOK() override {
    stream_->EndJob();
    Napi::Env env = Env();
    Napi::Array sizes = Napi::Array::New(env, sizes_.size());
    Napi::Array filters = Napi::Array::New(env, filters_.size());
    for (size_t i = 0; i < sizes_.size(); i++) {
      sizes.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(sizes_[i])));
      filters.Set(static_cast<uint32_t>(i), Napi::Number::New(env, filters_[i]));
    }
    Napi::Object result = Napi::Object::New(env);
    result.Set("data", BufferFromPool(env, std::move(all_), used_));
    result.Set("sizes", sizes);
    result.Set("filters", filters);
    deferred_.Resolve(result);
  }

  void OnError(const Napi::Error& error) override {
    stream_->EndJob();
    deferred_.Reject(ErrorWithCode(Env(), "EZLIB", error.Message()).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::vector<StreamItem> items_;
  ZStream* stream_;
  std::vector<uint8_t> all_;    // the chunks end to end (the first used_ bytes)
  size_t used_ = 0;
  std::vector<size_t> sizes_;   // per item: its chunk's length
  std::vector<int> filters_;    // per item: the filter used, −1 for bytes
  Napi::ObjectReference items_ref_;
  Napi::ObjectReference stream_ref_;
};

}  // namespace

// tightSampleRatio(job): deflated / raw size (zlib level 1) of the filtered data of three blocks
// of the rect (top left, centre, bottom right, ~2 KiB of output each): whether deflate pays,
// and which filter pays more, for ~0.05 ms instead of filtering and deflating it all.
Napi::Value TightSampleRatio(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FilterJob job;
  std::string error;
  if (!ParseJob(info[0], &job, &error)) {
    RangeErrorWithCode(env, error).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, SampleRatio(job));
}

// tightDeflateAsync(items, zstream): each item (a filter job, or a Uint8Array sent as it is)
// through the stream in order, one sync-flushed chunk per item; resolves to the chunks (end to
// end in `data`, `sizes` long) and the filter each job used (filter 3: copy or gradient, whichever a sample deflates smaller).
// Sources must stay unchanged until the promise settles; one job per stream at a time.
Napi::Value TightDeflateAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) {
    TypeErrorWithCode(env, "tightDeflateAsync: items must be an array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array list = info[0].As<Napi::Array>();
  std::vector<StreamItem> items(list.Length());
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value v = list.Get(i);
    if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
      items[i].bytes = v.As<Napi::Uint8Array>().Data();
      items[i].len = v.As<Napi::Uint8Array>().ByteLength();
      continue;
    }
    std::string error;
    if (!ParseJob(v, &items[i].job, &error, true)) {
      RangeErrorWithCode(env, "item " + std::to_string(i) + ": " + error).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    items[i].is_job = true;
  }
  ZStream* stream = ZStream::FromValue(info[1]);
  if (!stream) {
    TypeErrorWithCode(env, "tightDeflateAsync: the second argument must be a ZStream").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!stream->TryBeginJob()) {
    ErrorWithCode(env, "EBUSY", "tightDeflateAsync: another job on this ZStream is still running; jobs on one stream must not overlap")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto* worker = new StreamBatchWorker(env, std::move(items), list, stream, info[1].As<Napi::Object>());
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value TightFilter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FilterJob job;
  std::string error;
  if (!ParseJob(info[0], &job, &error)) {
    RangeErrorWithCode(env, error).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, job.OutBytes());
  if (job.OutBytes() > 0) RunFilter(job, out.Data());
  return out;
}

Napi::Value TightFilterBench(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FilterJob job;
  std::string error;
  uint64_t runs = 0;
  if (!ParseJob(info[0], &job, &error) || !ToIndex(info[1], &runs) || runs == 0) {
    RangeErrorWithCode(env, error.empty() ? "tightFilterBench: runs must be a positive integer" : error)
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  using Clock = std::chrono::steady_clock;
  std::vector<uint8_t> out(job.OutBytes() + 1);
  const size_t row = size_t{job.w} * job.InBytesPerPixel();
  std::vector<uint8_t> copy(row * job.h + 1);
  uint32_t sink = 0;
  const auto t0 = Clock::now();
  for (uint64_t i = 0; i < runs; i++) {
    RunFilter(job, out.data());
    sink += out[i % out.size()];
  }
  const auto t1 = Clock::now();
  for (uint64_t i = 0; i < runs; i++) {
    for (uint32_t r = 0; r < job.h; r++) std::memcpy(copy.data() + r * row, job.Row(r), row);
    sink += copy[i % copy.size()];
  }
  const auto t2 = Clock::now();
  Napi::Array result = Napi::Array::New(env, 3);
  result.Set(0u, Napi::Number::New(env, std::chrono::duration<double>(t1 - t0).count()));
  result.Set(1u, Napi::Number::New(env, std::chrono::duration<double>(t2 - t1).count()));
  result.Set(2u, Napi::Number::New(env, sink));  // keeps the loops from being optimized away
  return result;
}

}  // namespace vgpu
