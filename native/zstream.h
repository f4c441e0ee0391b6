// ZStream: one persistent zlib deflate stream. Each deflate() call ends with
// Z_SYNC_FLUSH, so its output is decodable at once but the stream never ends —
// what ZRLE (one stream per connection) and Tight (four) need.
#pragma once

#include <napi.h>
#include <zlib.h>

namespace vgpu {

class ZStream : public Napi::ObjectWrap<ZStream> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit ZStream(const Napi::CallbackInfo& info);
  ~ZStream() override;

 private:
  Napi::Value Deflate(const Napi::CallbackInfo& info);
  Napi::Value Reset(const Napi::CallbackInfo& info);

  z_stream stream_{};
  bool initialized_ = false;
};

}  // namespace vgpu
