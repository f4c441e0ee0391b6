#include "raw_encoder.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "buffer_pool.h"
#include "errors.h"
#include "pixel_translate.h"
#include "thread_pool.h"

namespace vgpu {

namespace {

constexpr int32_t kEncodingRaw = 0;
constexpr size_t kRawParallelMinBytes = 512 * 1024;  // below this one thread copies faster
constexpr size_t kRawChunkBytes = 256 * 1024;

bool ReadU32(const Napi::Object& o, const char* key, uint32_t max, uint32_t* out) {
  uint64_t v = 0;
  if (!ToIndex(o.Get(key), &v) || v > max) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

size_t RawBytes(const std::vector<RectInput>& rects, int bpp) {
  size_t total = 0;
  for (const RectInput& r : rects) total += 12 + size_t{r.w} * r.h * bpp;
  return total;
}

// Rows [row, row + rows) of one rect, written at out + offset (header before row 0).
struct RawChunk {
  size_t rect, row, rows, offset;
};

void WriteChunk(const SurfaceInput& s, const RectInput& r, const RawChunk& c, const PixelTranslator& tr, uint8_t* out) {
  uint8_t* dst = out + c.offset;
  if (c.row == 0) dst = WriteRectHeader(dst, r, kEncodingRaw);
  for (size_t y = c.row; y < c.row + c.rows; y++) {
    const uint8_t* src = s.data + ((size_t{r.y} + y) * s.width + r.x) * 4;
    dst = tr.TranslateRow(src, r.w, dst);
  }
}

// Fills `out` (RawBytes long) with every rect's header and pixels, on both cores when big.
void EncodeRaw(const SurfaceInput& s, const std::vector<RectInput>& rects, const PixelTranslator& tr, uint8_t* out,
               size_t total) {
  const size_t bpp = tr.bytes_per_pixel();
  std::vector<RawChunk> chunks;
  size_t offset = 0;
  for (size_t i = 0; i < rects.size(); i++) {
    const RectInput& r = rects[i];
    const size_t row_bytes = size_t{r.w} * bpp;
    const size_t rows_per_chunk = std::max<size_t>(1, kRawChunkBytes / row_bytes);
    for (size_t row = 0; row < r.h; row += rows_per_chunk) {
      const size_t rows = std::min<size_t>(rows_per_chunk, r.h - row);
      chunks.push_back({i, row, rows, offset});
      offset += (row == 0 ? 12 : 0) + rows * row_bytes;
    }
  }
  if (total >= kRawParallelMinBytes && WorkerPool::Shared().participants() > 1) {
    WorkerPool::Shared().ParallelFor(chunks.size(), [&](size_t i, size_t) {
      WriteChunk(s, rects[chunks[i].rect], chunks[i], tr, out);
    });
  } else {
    for (const RawChunk& c : chunks) WriteChunk(s, rects[c.rect], c, tr, out);
  }
}

class RawWorker : public Napi::AsyncWorker {
 public:
  RawWorker(Napi::Env env, const SurfaceInput& surface, std::vector<RectInput> rects, const ClientFormat& format,
            const Napi::Object& data_object)
      : Napi::AsyncWorker(env, "vgpu-vnc:raw"),
        deferred_(Napi::Promise::Deferred::New(env)),
        surface_(surface),
        rects_(std::move(rects)),
        translator_(format) {
    data_ref_ = Napi::Persistent(data_object);
  }

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    size_ = RawBytes(rects_, translator_.bytes_per_pixel());
    out_ = TakeBuffer(size_);
    EncodeRaw(surface_, rects_, translator_, out_.data(), size_);
  }

  void OnOK() override {
    deferred_.Resolve(BufferFromPool(Env(), std::move(out_), size_));
  }

  void OnError(const Napi::Error& error) override {
    deferred_.Reject(ErrorWithCode(Env(), "ENOMEM", error.Message()).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  SurfaceInput surface_;
  std::vector<RectInput> rects_;
  PixelTranslator translator_;
  std::vector<uint8_t> out_;
  size_t size_ = 0;
  Napi::ObjectReference data_ref_;
};

struct RawRequest {
  SurfaceInput surface;
  std::vector<RectInput> rects;
  ClientFormat format;
  Napi::Object data_object;
};

bool ParseRaw(const Napi::CallbackInfo& info, RawRequest* req, Napi::Error* error) {
  std::string code, message;
  if (!ParseBatchInput(info[0], info[1], &req->surface, &req->rects, &req->data_object, &code, &message)) {
    *error = ErrorWithCode(info.Env(), code, "rawEncode: " + message);
    return false;
  }
  if (!ParseClientFormat(info[2], &req->format, &message)) {
    *error = ErrorWithCode(info.Env(), "EINVAL", "rawEncode: " + message);
    return false;
  }
  return true;
}

}  // namespace

bool ParseBatchInput(const Napi::Value& surface, const Napi::Value& rects, SurfaceInput* surface_out,
                     std::vector<RectInput>* rects_out, Napi::Object* data_object, std::string* code, std::string* error) {
  *code = "EINVAL";
  if (!surface.IsObject()) {
    *error = "surface must be an object {data, width, height}";
    return false;
  }
  Napi::Object s = surface.As<Napi::Object>();
  Napi::Value data = s.Get("data");
  if (!data.IsTypedArray() || data.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    *error = "surface.data must be a Buffer";
    return false;
  }
  SurfaceInput in;
  if (!ReadU32(s, "width", 65535, &in.width) || !ReadU32(s, "height", 65535, &in.height)) {
    *error = "surface width and height must be integers in 0..65535";
    return false;
  }
  Napi::Uint8Array bytes = data.As<Napi::Uint8Array>();
  if (bytes.ByteLength() < size_t{in.width} * in.height * 4) {
    *code = "ERANGE";
    *error = "surface.data holds " + std::to_string(bytes.ByteLength()) + " bytes, less than " +
             std::to_string(in.width) + "x" + std::to_string(in.height) + "x4";
    return false;
  }
  in.data = bytes.Data();
  if (!rects.IsArray()) {
    *error = "rects must be an array";
    return false;
  }
  Napi::Array list = rects.As<Napi::Array>();
  rects_out->clear();
  rects_out->reserve(list.Length());
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value v = list.Get(i);
    RectInput r{};
    if (!v.IsObject() || !ReadU32(v.As<Napi::Object>(), "x", 65535, &r.x) ||
        !ReadU32(v.As<Napi::Object>(), "y", 65535, &r.y) || !ReadU32(v.As<Napi::Object>(), "w", 65535, &r.w) ||
        !ReadU32(v.As<Napi::Object>(), "h", 65535, &r.h)) {
      *error = "rect " + std::to_string(i) + " must be {x, y, w, h} with integers in 0..65535";
      return false;
    }
    if (size_t{r.x} + r.w > in.width || size_t{r.y} + r.h > in.height) {
      *code = "ERANGE";
      *error = "rect " + std::to_string(r.w) + "x" + std::to_string(r.h) + "+" + std::to_string(r.x) + "+" +
               std::to_string(r.y) + " is outside the " + std::to_string(in.width) + "x" +
               std::to_string(in.height) + " surface";
      return false;
    }
    if (r.w > 0 && r.h > 0) rects_out->push_back(r);
  }
  *surface_out = in;
  *data_object = data.As<Napi::Object>();
  return true;
}

uint8_t* WriteRectHeader(uint8_t* dst, const RectInput& r, int32_t encoding) {
  const uint32_t fields[4] = {r.x, r.y, r.w, r.h};
  for (uint32_t f : fields) {
    *dst++ = static_cast<uint8_t>(f >> 8);
    *dst++ = static_cast<uint8_t>(f);
  }
  const uint32_t e = static_cast<uint32_t>(encoding);
  *dst++ = static_cast<uint8_t>(e >> 24);
  *dst++ = static_cast<uint8_t>(e >> 16);
  *dst++ = static_cast<uint8_t>(e >> 8);
  *dst++ = static_cast<uint8_t>(e);
  return dst;
}

Napi::Value RawEncode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RawRequest req;
  Napi::Error error;
  if (!ParseRaw(info, &req, &error)) {
    Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
    deferred.Reject(error.Value());
    return deferred.Promise();
  }
  auto* worker = new RawWorker(env, req.surface, std::move(req.rects), req.format, req.data_object);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value RawEncodeSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RawRequest req;
  Napi::Error error;
  if (!ParseRaw(info, &req, &error)) {
    error.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const PixelTranslator translator(req.format);
  const size_t size = RawBytes(req.rects, translator.bytes_per_pixel());
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, size);
  EncodeRaw(req.surface, req.rects, translator, out.Data(), size);
  return out;
}

}  // namespace vgpu
