#include "capture.h"

#include <cstring>
#include <string>
#include <vector>

#include "capture_core.h"
#include "detile.h"
#include "errors.h"
#include "mapping.h"
#include "sigbus_guard.h"

namespace vgpu {

namespace {

constexpr uint64_t kMaxDimension = 16384;
constexpr uint64_t kMaxStride = uint64_t{1} << 20;
constexpr uint64_t kMinTile = 8;
constexpr uint64_t kMaxTile = 256;
// Segment hashes (scroll history) hash one tile's row with the signatures' hash.
static_assert(kMaxTile <= kMaxSigSegment, "tiles wider than the signature keys");
constexpr uint64_t kMaxProbeStep = 256;

// A validated capture request: everything the worker needs, no JS values.
struct CaptureRequest {
  Mapping* mapping = nullptr;
  CaptureJob job{};
  uint64_t tiles = 0;
  uint64_t scratch_bytes = 0;  // one de-tiled row, 0 when linear
};

// plane.modifier: absent, a Number 0, or a BigInt (modifiers exceed 2^53).
bool PlaneModifier(const Napi::Object& plane, uint64_t* out, std::string* error) {
  Napi::Value value = plane.Get("modifier");
  *out = 0;
  if (value.IsUndefined()) return true;
  if (value.IsBigInt()) {
    bool lossless = false;
    *out = value.As<Napi::BigInt>().Uint64Value(&lossless);
    if (lossless) return true;
  } else if (value.IsNumber() && value.As<Napi::Number>().DoubleValue() == 0) {
    return true;
  }
  *error = "plane.modifier must be a BigInt in 0..2^64-1 (or 0), got " + ValueForMessage(value);
  return false;
}

const char* kSigbusMessage = "bus error while reading the plane (the mapping shrank or vanished during capture)";

// Reads plane.<field> as an integer in [min, max]; sets *error to a one-line
// message naming the field otherwise.
bool PlaneField(const Napi::Object& plane, const char* field, uint64_t min, uint64_t max, uint64_t* out,
                std::string* error, const char* owner = "plane") {
  Napi::Value value = plane.Get(field);
  if (!ToIndex(value, out) || *out < min || *out > max) {
    *error = std::string(owner) + "." + field + " must be an integer in " + std::to_string(min) + ".." +
             std::to_string(max) + ", got " + ValueForMessage(value);
    return false;
  }
  return true;
}

// owner.field: a boolean, or undefined for `fallback`.
bool OptionalBoolField(const Napi::Object& object, const char* field, bool fallback, bool* out, std::string* error,
                       const char* owner) {
  Napi::Value value = object.Get(field);
  if (!value.IsUndefined() && !value.IsBoolean()) {
    *error = std::string(owner) + "." + field + " must be a boolean or undefined, got " + ValueForMessage(value);
    return false;
  }
  *out = value.IsUndefined() ? fallback : value.As<Napi::Boolean>().Value();
  return true;
}

// The plane and surface arguments every entry point shares (info[0..2]), validated.
struct PlaneArgs {
  Mapping* mapping = nullptr;
  const uint8_t* src = nullptr;
  uint64_t stride = 0;
  uint32_t width = 0;
  uint32_t height = 0;
  PixelFormat format = PixelFormat::XRGB8888;
  Tiling tiling = Tiling::kLinear;
  uint64_t row_bytes = 0;
  uint8_t* surface = nullptr;
};

// Validates mapping, plane and surface before any byte of the mapping is
// touched. All arithmetic is 64-bit; the limits keep products far below overflow.
bool ValidatePlane(const Napi::CallbackInfo& info, PlaneArgs* out, std::string* code, std::string* error) {
  Napi::Env env = info.Env();
  *code = "EINVAL";
  Mapping* mapping = Mapping::FromValue(env, info[0]);
  if (mapping == nullptr) {
    *error = "mapping must be a Mapping";
    return false;
  }
  if (!mapping->IsOpen()) {
    *code = "EBADF";
    *error = "mapping is closed";
    return false;
  }
  if (!info[1].IsObject()) {
    *error = "plane must be an object {fourcc, width, height, stride, offset}";
    return false;
  }
  Napi::Object plane = info[1].As<Napi::Object>();
  uint64_t fourcc, width, height, stride, offset;
  if (!PlaneField(plane, "fourcc", 0, 0xffffffffu, &fourcc, error)) return false;
  const FormatInfo* format = FindFormat(static_cast<uint32_t>(fourcc));
  if (format == nullptr) {
    *error = "plane.fourcc " + DescribeFourcc(static_cast<uint32_t>(fourcc)) + " is not a supported format";
    return false;
  }
  if (!PlaneField(plane, "width", 1, kMaxDimension, &width, error)) return false;
  if (!PlaneField(plane, "height", 1, kMaxDimension, &height, error)) return false;
  const uint64_t row_bytes = width * format->bytes_per_pixel;
  if (!PlaneField(plane, "stride", 0, kMaxStride, &stride, error)) return false;
  if (stride < row_bytes) {
    *error = "plane.stride " + std::to_string(stride) + " is less than width*" +
             std::to_string(format->bytes_per_pixel) + " = " + std::to_string(row_bytes) + " bytes for " +
             format->name;
    return false;
  }
  if (!PlaneField(plane, "offset", 0, uint64_t{1} << 53, &offset, error)) return false;
  uint64_t modifier;
  Tiling tiling;
  if (!PlaneModifier(plane, &modifier, error) || !TilingForModifier(modifier, &tiling, error)) return false;
  if (tiling == Tiling::kLinear) {
    const uint64_t end = offset + stride * (height - 1) + row_bytes;
    if (end > mapping->Size()) {
      *error = "plane.offset " + std::to_string(offset) + " + stride*(height-1) + width*bpp = " + std::to_string(end) +
               " exceeds the mapping size " + std::to_string(mapping->Size());
      return false;
    }
  } else {
    // Tiled planes cover whole tiles: rows are padded up to the tile height.
    const TileShape shape = ShapeOf(tiling);
    const char* name = tiling == Tiling::kIntelX ? "X" : "Y";
    if (stride % shape.width_bytes != 0) {
      *error = "plane.stride " + std::to_string(stride) + " is not a multiple of the Intel " + name +
               " tile width " + std::to_string(shape.width_bytes) + " bytes";
      return false;
    }
    const uint64_t tile_rows = (height + shape.rows - 1) / shape.rows;
    const uint64_t end = offset + stride * shape.rows * tile_rows;
    if (end > mapping->Size()) {
      *error = "plane.offset " + std::to_string(offset) + " + stride*" + std::to_string(tile_rows * shape.rows) +
               " rows (" + name + "-tiled) = " + std::to_string(end) + " exceeds the mapping size " +
               std::to_string(mapping->Size());
      return false;
    }
  }

  if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    *error = "surface must be a Buffer or Uint8Array";
    return false;
  }
  Napi::Uint8Array surface = info[2].As<Napi::Uint8Array>();
  if (surface.ByteLength() != width * height * 4) {
    *error = "surface.length " + std::to_string(surface.ByteLength()) + " is not width*height*4 = " +
             std::to_string(width * height * 4);
    return false;
  }
  out->mapping = mapping;
  out->src = mapping->Data() + offset;
  out->stride = stride;
  out->width = static_cast<uint32_t>(width);
  out->height = static_cast<uint32_t>(height);
  out->format = format->format;
  out->tiling = tiling;
  out->row_bytes = row_bytes;
  out->surface = surface.Data();
  return true;
}

// The optional probe argument: undefined, or {rowStep, phase, fullPassOnChange?}; it reads the
// source signatures, so sourceSigs must be given too (checked in Validate).
bool ValidateProbe(const Napi::Value& value, CaptureJob* job, std::string* error) {
  if (value.IsUndefined()) return true;
  if (!value.IsObject()) {
    *error = "probe must be an object {rowStep, phase} or undefined, got " + ValueForMessage(value);
    return false;
  }
  Napi::Object probe = value.As<Napi::Object>();
  uint64_t step, phase;
  if (!PlaneField(probe, "rowStep", 1, kMaxProbeStep, &step, error, "probe")) return false;
  if (!PlaneField(probe, "phase", 0, step - 1, &phase, error, "probe")) return false;
  if (!OptionalBoolField(probe, "fullPassOnChange", true, &job->full_pass_on_change, error, "probe")) return false;
  job->probe = true;
  job->row_step = static_cast<uint32_t>(step);
  job->phase = static_cast<uint32_t>(phase);
  return true;
}

// The optional scroll-history argument: undefined, or {segmentHashes, hashAll?, oldRows?, oldRowStep?}
// (see CaptureJob::seg_hashes / hash_all_segments / old_rows).
bool ValidateHistory(const Napi::Value& value, uint32_t width, uint32_t height, uint64_t tiles_x, CaptureJob* job,
                     std::string* error) {
  if (value.IsUndefined()) return true;
  if (!value.IsObject()) {
    *error = "history must be an object {segmentHashes, oldRows, oldRowStep} or undefined, got " + ValueForMessage(value);
    return false;
  }
  Napi::Object history = value.As<Napi::Object>();
  const auto is_bytes = [](const Napi::Value& v) {
    return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array;
  };
  Napi::Value hashes = history.Get("segmentHashes");
  const uint64_t hash_bytes = uint64_t{height} * tiles_x * 8;
  if (!is_bytes(hashes) || hashes.As<Napi::Uint8Array>().ByteLength() != hash_bytes) {
    *error = "history.segmentHashes must be a Buffer of height*tilesX*8 = " + std::to_string(hash_bytes) + " bytes";
    return false;
  }
  job->seg_hashes = hashes.As<Napi::Uint8Array>().Data();
  if (!OptionalBoolField(history, "hashAll", false, &job->hash_all_segments, error, "history")) return false;
  Napi::Value old_rows = history.Get("oldRows");
  if (old_rows.IsUndefined()) return true;
  uint64_t step;
  if (!PlaneField(history, "oldRowStep", 1, kMaxProbeStep, &step, error, "history")) return false;
  const uint64_t old_bytes = (height + step - 1) / step * uint64_t{width} * 4;
  if (!is_bytes(old_rows) || old_rows.As<Napi::Uint8Array>().ByteLength() != old_bytes) {
    *error = "history.oldRows must be a Buffer of ceil(height/oldRowStep)*width*4 = " + std::to_string(old_bytes) +
             " bytes";
    return false;
  }
  job->old_rows = old_rows.As<Napi::Uint8Array>().Data();
  job->old_row_step = static_cast<uint32_t>(step);
  return true;
}

// The optional source-signature argument: undefined, or {sigs, segmentWidth, portableKernels?}
// (see CaptureJob::src_sigs).
bool ValidateSourceSigs(const Napi::Value& value, uint32_t width, uint32_t height, uint64_t tile, CaptureJob* job,
                        std::string* error) {
  if (value.IsUndefined()) return true;
  if (!value.IsObject()) {
    *error = "sourceSigs must be an object {sigs, segmentWidth} or undefined, got " + ValueForMessage(value);
    return false;
  }
  Napi::Object object = value.As<Napi::Object>();
  Napi::Value segment_value = object.Get("segmentWidth");
  uint64_t segment;
  if (!ToIndex(segment_value, &segment) || segment < tile || segment > kMaxSigSegment || segment % tile != 0) {
    *error = "sourceSigs.segmentWidth must be a multiple of tileSize " + std::to_string(tile) + " in " +
             std::to_string(tile) + ".." + std::to_string(kMaxSigSegment) + ", got " + ValueForMessage(segment_value);
    return false;
  }
  const uint64_t segs_x = (width + segment - 1) / segment;
  const uint64_t bytes = uint64_t{height} * segs_x * 8;
  Napi::Value sigs = object.Get("sigs");
  if (!sigs.IsTypedArray() || sigs.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      sigs.As<Napi::Uint8Array>().ByteLength() != bytes) {
    *error = "sourceSigs.sigs must be a Buffer of height*ceil(width/segmentWidth)*8 = " + std::to_string(bytes) +
             " bytes";
    return false;
  }
  if (!OptionalBoolField(object, "portableKernels", false, &job->portable, error, "sourceSigs")) return false;
  job->src_sigs = sigs.As<Napi::Uint8Array>().Data();
  job->sig_segment = static_cast<uint32_t>(segment);
  job->sig_segs_x = static_cast<uint32_t>(segs_x);
  return true;
}

bool Validate(const Napi::CallbackInfo& info, CaptureRequest* req, std::string* code, std::string* error) {
  PlaneArgs args;
  if (!ValidatePlane(info, &args, code, error)) return false;
  uint64_t tile;
  if (!ToIndex(info[3], &tile) || tile < kMinTile || tile > kMaxTile) {
    *error = "tileSize must be an integer in " + std::to_string(kMinTile) + ".." + std::to_string(kMaxTile) +
             ", got " + ValueForMessage(info[3]);
    return false;
  }
  if (!info[4].IsBoolean()) {
    *error = "full must be a boolean, got " + ValueForMessage(info[4]);
    return false;
  }
  if (!ValidateProbe(info[5], &req->job, error)) return false;

  req->mapping = args.mapping;
  CaptureJob& job = req->job;
  job.src = args.src;
  job.src_stride = args.stride;
  job.width = args.width;
  job.height = args.height;
  job.format = args.format;
  job.surface = args.surface;
  job.tile_size = static_cast<uint32_t>(tile);
  job.full = info[4].As<Napi::Boolean>().Value();
  job.tiles_x = static_cast<uint32_t>((args.width + tile - 1) / tile);
  job.tiles_y = static_cast<uint32_t>((args.height + tile - 1) / tile);
  req->tiles = static_cast<uint64_t>(job.tiles_x) * job.tiles_y;
  if (!ValidateHistory(info[6], args.width, args.height, job.tiles_x, &job, error)) return false;
  if (!ValidateSourceSigs(info[7], args.width, args.height, tile, &job, error)) return false;
  if (job.probe && job.src_sigs == nullptr) {
    *error = "probe needs sourceSigs (it checks rows through the source signatures)";
    return false;
  }
  job.tiling = args.tiling;
  req->scratch_bytes = args.tiling == Tiling::kLinear ? 0 : args.row_bytes;
  return true;
}

Napi::Object MakeResult(Napi::Env env, const uint8_t* dirty, const uint8_t* bounds, const CaptureJob& job,
                        uint32_t dirty_count, const ProbeOutcome& probe) {
  const size_t tiles = static_cast<size_t>(job.tiles_x) * job.tiles_y;
  // One allocation: the dirty bytes, then four bounds bytes per tile.
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, tiles * 5);
  std::memcpy(buffer.Data(), dirty, tiles);
  std::memcpy(static_cast<uint8_t*>(buffer.Data()) + tiles, bounds, tiles * 4);
  Napi::Object result = Napi::Object::New(env);
  result.Set("dirty", Napi::Uint8Array::New(env, tiles, buffer, 0));
  result.Set("bounds", Napi::Uint8Array::New(env, tiles * 4, buffer, tiles));
  result.Set("tilesX", Napi::Number::New(env, job.tiles_x));
  result.Set("tilesY", Napi::Number::New(env, job.tiles_y));
  result.Set("dirtyCount", Napi::Number::New(env, dirty_count));
  result.Set("probeOnly", Napi::Boolean::New(env, probe.probe_only));
  result.Set("probeChanged", Napi::Boolean::New(env, probe.changed));
  return result;
}

// Runs one capture on the libuv pool. Holds references to the Mapping object
// and the surface so neither is collected (or unmapped) while it runs.
class CaptureWorker : public Napi::AsyncWorker {
 public:
  CaptureWorker(Napi::Env env, const CaptureRequest& req, const Napi::Object& mapping_object,
                const Napi::Object& surface_object, const Napi::Value& history_object, const Napi::Value& sigs_object)
      : Napi::AsyncWorker(env, "vgpu-vnc:capture"),
        deferred_(Napi::Promise::Deferred::New(env)),
        mapping_(req.mapping),
        job_(req.job),
        dirty_(req.tiles),
        bounds_(req.tiles * 4),
        scratch_(req.scratch_bytes) {
    mapping_ref_ = Napi::Persistent(mapping_object);
    surface_ref_ = Napi::Persistent(surface_object);
    if (history_object.IsObject()) history_ref_ = Napi::Persistent(history_object.As<Napi::Object>());
    if (sigs_object.IsObject()) sigs_ref_ = Napi::Persistent(sigs_object.As<Napi::Object>());
    job_.dirty = dirty_.data();
    job_.bounds = bounds_.data();
    job_.scratch = scratch_.data();
    mapping_->Acquire();
  }

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    const CaptureJob& job = job_;
    uint32_t count = 0;
    mapping_->BeginCpuRead();
    ProbeOutcome probe;
    const bool ok = RunGuarded([&] { count = RunCaptureOrProbe(job, &probe); });
    mapping_->EndCpuRead();
    probe_ = probe;
    if (ok) {
      dirty_count_ = count;
    } else {
      SetError(kSigbusMessage);
    }
  }

  void OnOK() override {
    mapping_->Release();
    deferred_.Resolve(MakeResult(Env(), dirty_.data(), bounds_.data(), job_, dirty_count_, probe_));
  }

  void OnError(const Napi::Error& error) override {
    mapping_->Release();
    deferred_.Reject(ErrorWithCode(Env(), "SIGBUS", error.Message()).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  Mapping* mapping_;
  CaptureJob job_;
  std::vector<uint8_t> dirty_;
  std::vector<uint8_t> bounds_;
  std::vector<uint8_t> scratch_;
  uint32_t dirty_count_ = 0;
  ProbeOutcome probe_;
  Napi::ObjectReference mapping_ref_;
  Napi::ObjectReference surface_ref_;
  Napi::ObjectReference history_ref_;  // keeps segmentHashes and oldRows alive
  Napi::ObjectReference sigs_ref_;  // keeps the source signatures alive
};

}  // namespace

Napi::Value Capture(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CaptureRequest req;
  std::string code, error;
  if (!Validate(info, &req, &code, &error)) {
    Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
    deferred.Reject(ErrorWithCode(env, code, error).Value());
    return deferred.Promise();
  }
  auto* worker = new CaptureWorker(env, req, info[0].As<Napi::Object>(), info[2].As<Napi::Object>(), info[6], info[7]);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value CaptureSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CaptureRequest req;
  std::string code, error;
  if (!Validate(info, &req, &code, &error)) {
    ErrorWithCode(env, code, error).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::vector<uint8_t> dirty(req.tiles);
  std::vector<uint8_t> bounds(req.tiles * 4);
  std::vector<uint8_t> scratch(req.scratch_bytes);
  req.job.dirty = dirty.data();
  req.job.bounds = bounds.data();
  req.job.scratch = scratch.data();
  const CaptureJob& job = req.job;
  uint32_t count = 0;
  ProbeOutcome probe;
  req.mapping->BeginCpuRead();
  const bool ok = RunGuarded([&] { count = RunCaptureOrProbe(job, &probe); });
  req.mapping->EndCpuRead();
  if (!ok) {
    ErrorWithCode(env, "SIGBUS", kSigbusMessage).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return MakeResult(env, dirty.data(), bounds.data(), req.job, count, probe);
}

Napi::Value MemcpyBench(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    TypeErrorWithCode(env, "dst must be a Buffer or Uint8Array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint8Array dst = info[0].As<Napi::Uint8Array>();
  Mapping* mapping = Mapping::FromValue(env, info[1]);
  if (mapping == nullptr || !mapping->IsOpen()) {
    ErrorWithCode(env, "EINVAL", "src must be an open Mapping").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uint64_t offset, length;
  if (!ToIndex(info[2], &offset) || !ToIndex(info[3], &length) || offset > mapping->Size() ||
      length > mapping->Size() - offset || length > dst.ByteLength()) {
    RangeErrorWithCode(env, "memcpyBench: offset/length outside the mapping or the destination")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uint8_t* d = dst.Data();
  const uint8_t* s = mapping->Data() + offset;
  if (!RunGuarded([&] { std::memcpy(d, s, length); })) {
    ErrorWithCode(env, "SIGBUS", kSigbusMessage).ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

Napi::Value SupportedFourccs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env, sizeof kFormats / sizeof kFormats[0]);
  uint32_t i = 0;
  for (const FormatInfo& format : kFormats) out.Set(i++, Napi::Number::New(env, format.fourcc));
  return out;
}

}  // namespace vgpu
