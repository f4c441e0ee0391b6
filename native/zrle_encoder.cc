#include "zrle_encoder.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

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

inline size_t RunLengthBytes(size_t len) { return (len - 1) / 255 + 1; }

inline uint8_t* WriteRunLength(uint8_t* out, size_t run) {
  size_t r = run - 1;
  while (r >= 255) {
    *out++ = 255;
    r -= 255;
  }
  *out++ = static_cast<uint8_t>(r);
  return out;
}

// Per-thread scratch for tile encoding.
struct TileScratch {
  ColourTable palette;
  uint32_t values[kTile * kTile];
};

// Plain RLE (CPIXEL + length) or palette RLE (index, | 128 + length when the run is > 1).
uint8_t* WriteRuns(const uint32_t* v, size_t n, const PixelTranslator& tr, const ColourTable* pal, uint8_t* out) {
  uint32_t prev = v[0];
  size_t run = 0;
  auto flush = [&](uint32_t c, size_t len) {
    if (pal) {
      const uint8_t idx = static_cast<uint8_t>(pal->IndexOf(c));
      if (len == 1) {
        *out++ = idx;
        return;
      }
      *out++ = idx | 128;
    } else {
      out = tr.WriteCPixel(out, c);
    }
    out = WriteRunLength(out, len);
  };
  for (size_t i = 0; i < n; i++) {
    if (v[i] == prev) {
      run++;
      continue;
    }
    flush(prev, run);
    prev = v[i];
    run = 1;
  }
  flush(prev, run);
  return out;
}

// One tile of client pixel values (tw × th, rows packed) → its ZRLE bytes; returns the end.
// The same costs and tie-breaks as zrle.ts's encodeTile.
uint8_t* EncodeTile(const uint32_t* v, uint32_t tw, uint32_t th, const PixelTranslator& tr, ColourTable& pal,
                    uint8_t* out) {
  const size_t cp = tr.cpixel_bytes();
  const size_t n = size_t{tw} * th;
  pal.Clear();
  // One pass over the runs (which continue across rows): palette and RLE costs.
  bool overflow = false;
  size_t plain_rle = 0, palette_rle = 0;
  uint32_t prev = v[0];
  size_t run = 0;
  auto account = [&](uint32_t c, size_t len) {
    const size_t rl = RunLengthBytes(len);
    plain_rle += cp + rl;
    palette_rle += len == 1 ? 1 : 1 + rl;
    if (!overflow && pal.Add(c) < 0) overflow = true;
  };
  for (size_t i = 0; i < n; i++) {
    if (v[i] == prev) {
      run++;
      continue;
    }
    account(prev, run);
    prev = v[i];
    run = 1;
  }
  account(prev, run);

  const int colours = pal.size();
  if (!overflow && colours == 1) {
    *out++ = kSubSolid;
    return tr.WriteCPixel(out, prev);
  }
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
    for (size_t i = 0; i < n; i++) out = tr.WriteCPixel(out, v[i]);
    return out;
  }
  if (best == kSubPlainRle) return WriteRuns(v, n, tr, nullptr, out);
  for (int i = 0; i < colours; i++) out = tr.WriteCPixel(out, pal.colour(i));
  if (best > 128) return WriteRuns(v, n, tr, &pal, out);
  // Packed palette: indices MSB first, each row padded to a byte.
  for (uint32_t y = 0; y < th; y++) {
    const uint32_t* row = v + size_t{y} * tw;
    uint32_t acc = 0, nbits = 0;
    uint32_t last_v = row[0];
    uint32_t last_i = static_cast<uint32_t>(pal.IndexOf(last_v));
    for (uint32_t x = 0; x < tw; x++) {
      if (row[x] != last_v) {
        last_v = row[x];
        last_i = static_cast<uint32_t>(pal.IndexOf(last_v));
      }
      acc = (acc << bits) | last_i;
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

void EncodeBand(const SurfaceInput& s, const RectInput& r, Band& band, const PixelTranslator& tr, TileScratch& scratch,
                uint8_t* buffer) {
  uint8_t* out = buffer + band.offset;
  const uint32_t th = std::min(kTile, r.h - band.ty);
  for (uint32_t tx = 0; tx < r.w; tx += kTile) {
    const uint32_t tw = std::min(kTile, r.w - tx);
    uint32_t* v = scratch.values;
    for (uint32_t y = 0; y < th; y++) {
      const uint8_t* src = s.data + ((size_t{r.y} + band.ty + y) * s.width + r.x + tx) * 4;
      for (uint32_t x = 0; x < tw; x++) *v++ = tr.Value(LoadU32(src + x * 4));
    }
    out = EncodeTile(scratch.values, tw, th, tr, scratch.palette, out);
  }
  band.size = static_cast<size_t>(out - (buffer + band.offset));
}

struct ZrleRequest {
  ZStream* stream = nullptr;
  SurfaceInput surface;
  std::vector<RectInput> rects;
  ClientFormat format;
  Napi::Object data_object;
};

// Tiles of every rect, then one zlib chunk per rect; `out`/`size`: a malloc'ed buffer with
// header + u32 length + chunk per rect (the caller frees or hands it to JS).
bool RunZrle(const ZrleRequest& req, uint8_t** out, size_t* size, std::string* error) {
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
  std::vector<uint8_t> tiles(worst);
  const bool parallel = pixels >= kParallelMinPixels && bands.size() > 1 && WorkerPool::Shared().participants() > 1;
  if (parallel) {
    std::vector<TileScratch> scratch(WorkerPool::Shared().participants());
    WorkerPool::Shared().ParallelFor(bands.size(), [&](size_t i, size_t slot) {
      EncodeBand(req.surface, req.rects[bands[i].rect], bands[i], tr, scratch[slot], tiles.data());
    });
  } else {
    TileScratch scratch;
    for (Band& band : bands) EncodeBand(req.surface, req.rects[band.rect], band, tr, scratch, tiles.data());
  }
  // Close the gaps between bands: the rects' tile data back to back, one segment per rect.
  std::vector<size_t> lens(req.rects.size(), 0);
  size_t packed = 0;
  for (const Band& band : bands) {
    if (band.offset != packed) std::memmove(tiles.data() + packed, tiles.data() + band.offset, band.size);
    packed += band.size;
    lens[band.rect] += band.size;
  }
  std::vector<std::vector<uint8_t>> chunks;
  if (!req.stream->DeflateSegments(tiles.data(), lens.data(), lens.size(), chunks, error)) return false;
  size_t total = 0;
  for (const auto& c : chunks) total += 16 + c.size();
  *size = total;
  *out = nullptr;
  if (total == 0) return true;
  uint8_t* p = static_cast<uint8_t*>(std::malloc(total));
  if (p == nullptr) {
    *error = "zrleEncode: out of memory for " + std::to_string(total) + " bytes";
    return false;
  }
  *out = p;
  for (size_t i = 0; i < chunks.size(); i++) {
    p = WriteRectHeader(p, req.rects[i], kEncodingZrle);
    const uint32_t len = static_cast<uint32_t>(chunks[i].size());
    *p++ = static_cast<uint8_t>(len >> 24);
    *p++ = static_cast<uint8_t>(len >> 16);
    *p++ = static_cast<uint8_t>(len >> 8);
    *p++ = static_cast<uint8_t>(len);
    std::memcpy(p, chunks[i].data(), chunks[i].size());
    p += chunks[i].size();
  }
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
  ~ZrleWorker() override { std::free(out_); }

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    std::string error;
    if (!RunZrle(req_, &out_, &size_, &error)) SetError(error);
  }

  void OnOK() override {
    req_.stream->EndJob();
    uint8_t* out = out_;
    out_ = nullptr;  // the Buffer owns it now
    deferred_.Resolve(BufferFromMalloc(Env(), out, size_));
  }

  void OnError(const Napi::Error& error) override {
    req_.stream->EndJob();
    deferred_.Reject(ErrorWithCode(Env(), "EZLIB", error.Message()).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  ZrleRequest req_;
  uint8_t* out_ = nullptr;
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
  uint8_t* out = nullptr;
  size_t size = 0;
  std::string message;
  const bool ok = RunZrle(req, &out, &size, &message);
  req.stream->EndJob();
  if (!ok) {
    std::free(out);
    ErrorWithCode(env, "EZLIB", message).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return BufferFromMalloc(env, out, size);
}

}  // namespace vgpu
