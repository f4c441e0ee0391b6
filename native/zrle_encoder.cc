#include "zrle_encoder.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "buffer_pool.h"
#include "errors.h"
#include "pixel_translate.h"
#include "raw_encoder.h"
#include "thread_pool.h"
#include "zstream.h"

namespace vgpu {

namespace {

constexpr int32_t kEncodingZrle = 16;
constexpr uint32_t kTile = 64;
constexpr uint8_t kSubRaw = 0;
constexpr uint8_t kSubSolid = 1;
constexpr uint8_t kSubPlainRle = 128;
constexpr int kMaxRlePalette = 127;  // palette RLE is 128 + size, sizes 2..127
constexpr int kMaxPackedPalette = 16;
constexpr size_t kParallelMinPixels = 32 * 1024;  // smaller batches: the pool hop costs more

// Colour → index in insertion order, up to 127 colours (palette.ts's ColourTable); clear() is
// O(1) thanks to generation stamps.
class ColourTable {
 public:
  static constexpr int kSlots = 256;
  void Clear() {
    size_ = 0;
    if (++gen_ == 0) {
      std::memset(stamps_, 0, sizeof stamps_);
      gen_ = 1;
    }
  }
  /** Index of c, adding it; −1 when it is new and the table is full. */
  int Add(uint32_t c) {
    for (uint32_t slot = Hash(c);; slot = (slot + 1) & (kSlots - 1)) {
      if (stamps_[slot] != gen_) {
        if (size_ == kMaxRlePalette) return -1;
        stamps_[slot] = gen_;
        keys_[slot] = c;
        index_[slot] = static_cast<uint8_t>(size_);
        colours_[size_] = c;
        return size_++;
      }
      if (keys_[slot] == c) return index_[slot];
    }
  }
  int IndexOf(uint32_t c) const {
    for (uint32_t slot = Hash(c);; slot = (slot + 1) & (kSlots - 1)) {
      if (stamps_[slot] != gen_) return -1;
      if (keys_[slot] == c) return index_[slot];
    }
  }
  int size() const { return size_; }
  uint32_t colour(int i) const { return colours_[i]; }

 private:
  static uint32_t Hash(uint32_t c) { return (c * 0x9e3779b1u) >> 24; }
  uint32_t keys_[kSlots];
  uint32_t stamps_[kSlots] = {};
  uint8_t index_[kSlots];
  uint32_t colours_[kMaxRlePalette];
  int size_ = 0;
  uint32_t gen_ = 1;
};

inline uint8_t* WriteRunLength(uint8_t* out, size_t run) {
  size_t r = run - 1;
  while (r >= 255) {
    *out++ = 255;
    r -= 255;
  }
  *out++ = static_cast<uint8_t>(r);
  return out;
}

// CPIXEL writers, one type per layout so the tile loops have no per-pixel branch on it.
template <int kBytes, bool kBigEndian>
struct CPixelWriter {
  int shift = 0;  // 3-byte CPIXELs of colours in the top bytes: shifted down 8 first
  uint8_t* operator()(uint8_t* d, uint32_t v) const {
    if (kBytes == 1) {
      *d = static_cast<uint8_t>(v);
    } else if (kBytes == 2) {
      const uint16_t w = kBigEndian ? __builtin_bswap16(static_cast<uint16_t>(v)) : static_cast<uint16_t>(v);
      std::memcpy(d, &w, 2);
    } else if (kBytes == 3) {
      v >>= shift;
      d[0] = static_cast<uint8_t>(kBigEndian ? v >> 16 : v);
      d[1] = static_cast<uint8_t>(v >> 8);
      d[2] = static_cast<uint8_t>(kBigEndian ? v : v >> 16);
    } else {
      const uint32_t w = kBigEndian ? __builtin_bswap32(v) : v;
      std::memcpy(d, &w, 4);
    }
    return d + kBytes;
  }
};

// Per-thread scratch for tile encoding: the tile's client pixel values and its runs.
struct TileScratch {
  ColourTable palette;
  uint32_t values[kTile * kTile];
  uint16_t run_start[kTile * kTile];
  uint32_t run_value[kTile * kTile];
  uint16_t run_length[kTile * kTile];
  uint8_t run_index[kTile * kTile];  // palette index of each run (while the palette holds)
  uint8_t pixel_index[kTile * kTile];
};

// One tile of client pixel values (tw × th, rows packed, in scratch.values) → its ZRLE
// bytes; returns the end. The same costs and tie-breaks as zrle.ts's encodeTile.
template <int kBytes, bool kBigEndian>
uint8_t* EncodeTile(uint32_t tw, uint32_t th, CPixelWriter<kBytes, kBigEndian> write, TileScratch& t, uint8_t* out) {
  const uint32_t* v = t.values;
  const size_t n = size_t{tw} * th;
  ColourTable& pal = t.palette;
  pal.Clear();
  // Runs continue across rows. Their starts are found without a branch per pixel (run
  // boundaries in smooth content are unpredictable), then each run is recorded once.
  uint16_t* starts = t.run_start;
  size_t runs = 1;
  starts[0] = 0;
  for (size_t i = 1; i < n; i++) {
    starts[runs] = static_cast<uint16_t>(i);
    runs += v[i] != v[i - 1];
  }
  bool overflow = false;
  size_t length_bytes = 0, singles = 0;
  for (size_t r = 0; r < runs; r++) {
    const size_t len = (r + 1 < runs ? starts[r + 1] : n) - starts[r];
    const uint32_t c = v[starts[r]];
    t.run_value[r] = c;
    t.run_length[r] = static_cast<uint16_t>(len);
    length_bytes += len <= 255 ? 1 : (len - 1) / 255 + 1;
    singles += len == 1;
    if (!overflow) {
      const int idx = pal.Add(c);
      overflow = idx < 0;
      t.run_index[r] = static_cast<uint8_t>(idx);
    }
  }
  const uint32_t prev = t.run_value[runs - 1];

  const size_t cp = kBytes;
  const int colours = pal.size();
  if (!overflow && colours == 1) {
    *out++ = kSubSolid;
    return write(out, prev);
  }
  // Plain RLE: CPIXEL + length bytes per run; palette RLE: index, plus length bytes when > 1.
  const size_t plain_rle = runs * cp + length_bytes;
  const size_t palette_rle = runs + length_bytes - singles;
  int best = kSubRaw;
  size_t best_size = n * cp;
  if (plain_rle < best_size) {
    best = kSubPlainRle;
    best_size = plain_rle;
  }
  const uint32_t bits = colours <= 2 ? 1 : colours <= 4 ? 2 : 4;
  if (!overflow && colours <= kMaxPackedPalette) {
    const size_t packed = colours * cp + th * ((tw * bits + 7) >> 3);
    if (packed <= best_size) {
      best = colours;
      best_size = packed;
    }
  }
  if (!overflow && colours * cp + palette_rle < best_size) best = 128 + colours;

  *out++ = static_cast<uint8_t>(best);
  if (best == kSubRaw) {
    for (size_t i = 0; i < n; i++) out = write(out, v[i]);
    return out;
  }
  if (best == kSubPlainRle) {
    for (size_t r = 0; r < runs; r++) out = WriteRunLength(write(out, t.run_value[r]), t.run_length[r]);
    return out;
  }
  for (int i = 0; i < colours; i++) out = write(out, pal.colour(i));
  if (best > 128) {
    for (size_t r = 0; r < runs; r++) {
      const uint32_t len = t.run_length[r];
      const uint32_t more = len > 1;
      out[0] = static_cast<uint8_t>(t.run_index[r] | (more << 7));
      if (len <= 255) {
        // The length byte (len − 1) is stored always and kept only for runs > 1: no branch.
        // (Palette RLE is only chosen when smaller than raw, so the spare byte has room.)
        out[1] = static_cast<uint8_t>(len - 1);
        out += 1 + more;
      } else {
        out = WriteRunLength(out + 1, len);
      }
    }
    return out;
  }
  // Packed palette: indices MSB first, each row padded to a byte.
  for (size_t r = 0, i = 0; r < runs; i += t.run_length[r], r++) std::memset(t.pixel_index + i, t.run_index[r], t.run_length[r]);
  for (uint32_t y = 0; y < th; y++) {
    const uint8_t* row = t.pixel_index + size_t{y} * tw;
    uint32_t acc = 0, nbits = 0;
    for (uint32_t x = 0; x < tw; x++) {
      acc = (acc << bits) | row[x];
      nbits += bits;
      if (nbits == 8) {
        *out++ = static_cast<uint8_t>(acc);
        acc = 0;
        nbits = 0;
      }
    }
    if (nbits > 0) *out++ = static_cast<uint8_t>(acc << (8 - nbits));
  }
  return out;
}

// One row of tiles of one rect.
struct Band {
  size_t rect;
  uint32_t ty;       // first row of the band inside the rect
  size_t offset;     // where its worst case starts in the scratch buffer
  size_t size = 0;   // bytes written
};

template <int kBytes, bool kBigEndian>
void EncodeBand(const SurfaceInput& s, const RectInput& r, Band& band, const PixelTranslator& tr,
                CPixelWriter<kBytes, kBigEndian> write, TileScratch& scratch, uint8_t* buffer) {
  uint8_t* out = buffer + band.offset;
  const uint32_t th = std::min(kTile, r.h - band.ty);
  for (uint32_t tx = 0; tx < r.w; tx += kTile) {
    const uint32_t tw = std::min(kTile, r.w - tx);
    uint32_t* v = scratch.values;
    for (uint32_t y = 0; y < th; y++, v += tw) {
      const uint8_t* src = s.data + ((size_t{r.y} + band.ty + y) * s.width + r.x + tx) * 4;
      if (tr.identity()) {
        std::memcpy(v, src, size_t{tw} * 4);
      } else {
        for (uint32_t x = 0; x < tw; x++) v[x] = tr.Value(LoadU32(src + x * 4));
      }
    }
    out = EncodeTile(tw, th, write, scratch, out);
  }
  band.size = static_cast<size_t>(out - (buffer + band.offset));
}

// Encodes every band (on the pool when there is enough work) with one CPIXEL layout.
template <int kBytes, bool kBigEndian>
void EncodeBands(const SurfaceInput& s, const std::vector<RectInput>& rects, std::vector<Band>& bands,
                 const PixelTranslator& tr, int shift, bool parallel, uint8_t* buffer) {
  CPixelWriter<kBytes, kBigEndian> write;
  write.shift = shift;
  if (parallel) {
    std::vector<TileScratch> scratch(WorkerPool::Shared().participants());
    WorkerPool::Shared().ParallelFor(bands.size(), [&](size_t i, size_t slot) {
      EncodeBand(s, rects[bands[i].rect], bands[i], tr, write, scratch[slot], buffer);
    });
  } else {
    auto scratch = std::make_unique<TileScratch>();
    for (Band& band : bands) EncodeBand(s, rects[band.rect], band, tr, write, *scratch, buffer);
  }
}

template <bool kBigEndian>
void EncodeBandsFor(int cpixel_bytes, const SurfaceInput& s, const std::vector<RectInput>& rects,
                    std::vector<Band>& bands, const PixelTranslator& tr, int shift, bool parallel, uint8_t* buffer) {
  switch (cpixel_bytes) {
    case 1: return EncodeBands<1, kBigEndian>(s, rects, bands, tr, shift, parallel, buffer);
    case 2: return EncodeBands<2, kBigEndian>(s, rects, bands, tr, shift, parallel, buffer);
    case 3: return EncodeBands<3, kBigEndian>(s, rects, bands, tr, shift, parallel, buffer);
    default: return EncodeBands<4, kBigEndian>(s, rects, bands, tr, shift, parallel, buffer);
  }
}

struct ZrleRequest {
  ZStream* stream = nullptr;
  SurfaceInput surface;
  std::vector<RectInput> rects;
  ClientFormat format;
  Napi::Object data_object;
};

// Tiles of every rect, then one zlib chunk per rect: *out (from the buffer pool) gets header +
// u32 length + chunk for each rect, *size bytes in all.
bool RunZrle(const ZrleRequest& req, std::vector<uint8_t>* out, size_t* size, std::string* error) {
  const PixelTranslator tr(req.format);
  const size_t cp = tr.cpixel_bytes();
  std::vector<Band> bands;
  size_t worst = 0, pixels = 0;
  for (size_t i = 0; i < req.rects.size(); i++) {
    const RectInput& r = req.rects[i];
    pixels += size_t{r.w} * r.h;
    for (uint32_t ty = 0; ty < r.h; ty += kTile) {
      bands.push_back(Band{i, ty, worst});
      const size_t th = std::min(kTile, r.h - ty);
      worst += (r.w + kTile - 1) / kTile + size_t{r.w} * th * cp;  // every tile raw + its sub byte
    }
  }
  std::vector<uint8_t> tiles = TakeBuffer(worst);
  const bool parallel = pixels >= kParallelMinPixels && bands.size() > 1 && WorkerPool::Shared().participants() > 1;
  if (req.format.big_endian) {
    EncodeBandsFor<true>(tr.cpixel_bytes(), req.surface, req.rects, bands, tr, tr.cpixel_shift(), parallel, tiles.data());
  } else {
    EncodeBandsFor<false>(tr.cpixel_bytes(), req.surface, req.rects, bands, tr, tr.cpixel_shift(), parallel, tiles.data());
  }
  // Close the gaps between bands: the rects' tile data back to back, one segment per rect.
  std::vector<size_t> lens(req.rects.size(), 0);
  size_t packed = 0;
  for (const Band& band : bands) {
    if (band.offset != packed) std::memmove(tiles.data() + packed, tiles.data() + band.offset, band.size);
    packed += band.size;
    lens[band.rect] += band.size;
  }
  std::vector<uint8_t> deflated = TakeBuffer(packed / 2 + 4096);
  std::vector<size_t> sizes;
  size_t deflated_bytes = 0;
  const bool ok = req.stream->DeflateSegmentsInto(tiles.data(), lens.data(), lens.size(), deflated, sizes, &deflated_bytes, error);
  GiveBuffer(std::move(tiles));
  if (!ok) {
    GiveBuffer(std::move(deflated));
    return false;
  }
  const size_t total = deflated_bytes + 16 * req.rects.size();
  *out = TakeBuffer(total);
  *size = total;
  uint8_t* p = out->data();
  const uint8_t* chunk = deflated.data();
  for (size_t i = 0; i < req.rects.size(); i++) {
    p = WriteRectHeader(p, req.rects[i], kEncodingZrle);
    const uint32_t len = static_cast<uint32_t>(sizes[i]);
    *p++ = static_cast<uint8_t>(len >> 24);
    *p++ = static_cast<uint8_t>(len >> 16);
    *p++ = static_cast<uint8_t>(len >> 8);
    *p++ = static_cast<uint8_t>(len);
    std::memcpy(p, chunk, len);
    p += len;
    chunk += len;
  }
  GiveBuffer(std::move(deflated));
  return true;
}

bool ParseZrle(const Napi::CallbackInfo& info, const char* name, ZrleRequest* req, Napi::Error* error) {
  Napi::Env env = info.Env();
  req->stream = ZStream::FromValue(info[0]);
  if (req->stream == nullptr) {
    *error = TypeErrorWithCode(env, std::string(name) + ": the first argument must be a native ZStream");
    return false;
  }
  std::string code, message;
  if (!ParseBatchInput(info[1], info[2], &req->surface, &req->rects, &req->data_object, &code, &message)) {
    *error = ErrorWithCode(env, code, std::string(name) + ": " + message);
    return false;
  }
  if (!ParseClientFormat(info[3], &req->format, &message)) {
    *error = ErrorWithCode(env, "EINVAL", std::string(name) + ": " + message);
    return false;
  }
  return true;
}

Napi::Error BusyError(Napi::Env env, const char* name) {
  return ErrorWithCode(env, "EBUSY",
                       std::string(name) + ": the ZStream is in use by another async call; calls on one stream must not overlap");
}

class ZrleWorker : public Napi::AsyncWorker {
 public:
  ZrleWorker(Napi::Env env, ZrleRequest req, const Napi::Object& stream_object)
      : Napi::AsyncWorker(env, "vgpu-vnc:zrle"), deferred_(Napi::Promise::Deferred::New(env)), req_(std::move(req)) {
    stream_ref_ = Napi::Persistent(stream_object);
    data_ref_ = Napi::Persistent(req_.data_object);
  }

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    std::string error;
    if (!RunZrle(req_, &out_, &size_, &error)) SetError(error);
  }

  void OnOK() override {
    req_.stream->EndJob();
    deferred_.Resolve(BufferFromPool(Env(), std::move(out_), size_));
  }

  void OnError(const Napi::Error& error) override {
    req_.stream->EndJob();
    deferred_.Reject(ErrorWithCode(Env(), "EZLIB", error.Message()).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  ZrleRequest req_;
  std::vector<uint8_t> out_;
  size_t size_ = 0;
  Napi::ObjectReference stream_ref_;
  Napi::ObjectReference data_ref_;
};

}  // namespace

Napi::Value ZrleEncode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ZrleRequest req;
  Napi::Error error;
  const bool ok = ParseZrle(info, "zrleEncode", &req, &error);
  if (ok && !req.stream->TryBeginJob()) error = BusyError(env, "zrleEncode");
  else if (ok) {
    auto* worker = new ZrleWorker(env, std::move(req), info[0].As<Napi::Object>());
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  }
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  deferred.Reject(error.Value());
  return deferred.Promise();
}

Napi::Value ZrleEncodeSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ZrleRequest req;
  Napi::Error error;
  if (!ParseZrle(info, "zrleEncodeSync", &req, &error)) {
    error.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!req.stream->TryBeginJob()) {
    BusyError(env, "zrleEncodeSync").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::vector<uint8_t> out;
  size_t size = 0;
  std::string message;
  const bool ok = RunZrle(req, &out, &size, &message);
  req.stream->EndJob();
  if (!ok) {
    ErrorWithCode(env, "EZLIB", message).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return BufferFromPool(env, std::move(out), size);
}

}  // namespace vgpu
