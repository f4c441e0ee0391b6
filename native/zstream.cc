#include "zstream.h"

#include <algorithm>
#include <climits>
#include <string>
#include <vector>

#include "errors.h"

namespace vgpu {

Napi::Function ZStream::Define(Napi::Env env) {
  return DefineClass(env, "ZStream",
                     {
                         InstanceMethod<&ZStream::Deflate>("deflate"),
                         InstanceMethod<&ZStream::Reset>("reset"),
                     });
}

ZStream::ZStream(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ZStream>(info) {
  Napi::Env env = info.Env();
  double level = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -2.0;
  if (!(level >= -1 && level <= 9) || level != static_cast<double>(static_cast<int>(level))) {
    RangeErrorWithCode(env, "ZStream: level must be an integer in -1..9, got " + ValueForMessage(info[0]))
        .ThrowAsJavaScriptException();
    return;
  }
  int rc = deflateInit(&stream_, static_cast<int>(level));
  if (rc != Z_OK) {
    ErrorWithCode(env, "EZLIB", std::string("ZStream: deflateInit failed: ") + (stream_.msg ? stream_.msg : "?"))
        .ThrowAsJavaScriptException();
    return;
  }
  initialized_ = true;
}

ZStream::~ZStream() {
  if (initialized_) deflateEnd(&stream_);
}

Napi::Value ZStream::Deflate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!initialized_) {
    ErrorWithCode(env, "EBADF", "ZStream is not initialized").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    TypeErrorWithCode(env, "ZStream.deflate: input must be a Buffer or Uint8Array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint8Array input = info[0].As<Napi::Uint8Array>();
  const uint8_t* in = input.Data();
  size_t remaining = input.ByteLength();

  // Room for the compressed data plus the sync-flush marker; grown if needed.
  std::vector<uint8_t> out(deflateBound(&stream_, static_cast<uLong>(remaining)) + 64);
  size_t produced = 0;
  for (;;) {
    // avail_in is a uInt: feed very large inputs in slices.
    if (stream_.avail_in == 0 && remaining > 0) {
      const size_t slice = std::min<size_t>(remaining, UINT_MAX);
      stream_.next_in = const_cast<Bytef*>(in);
      stream_.avail_in = static_cast<uInt>(slice);
      in += slice;
      remaining -= slice;
    }
    if (out.size() - produced < 64) out.resize(out.size() * 2);
    const size_t room = std::min<size_t>(out.size() - produced, UINT_MAX);
    stream_.next_out = out.data() + produced;
    stream_.avail_out = static_cast<uInt>(room);
    const int flush = remaining > 0 ? Z_NO_FLUSH : Z_SYNC_FLUSH;
    int rc = deflate(&stream_, flush);
    produced += room - stream_.avail_out;
    // Z_BUF_ERROR only means "no progress possible": nothing left to do.
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      ErrorWithCode(env, "EZLIB", std::string("ZStream.deflate failed: ") + (stream_.msg ? stream_.msg : "?"))
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (remaining == 0 && stream_.avail_in == 0 && stream_.avail_out != 0) break;
  }
  stream_.next_in = nullptr;
  return Napi::Buffer<uint8_t>::Copy(env, out.data(), produced);
}

Napi::Value ZStream::Reset(const Napi::CallbackInfo& info) {
  if (initialized_) deflateReset(&stream_);
  return info.Env().Undefined();
}

}  // namespace vgpu
