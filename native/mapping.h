// Mapping: one shared read-write mmap of a whole file (or character device).
// Mapped once; every access from JS is bounds-checked and SIGBUS-guarded, and
// JS only ever receives copies.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>

namespace vgpu {

class Mapping : public Napi::ObjectWrap<Mapping> {
 public:
  static Napi::Function Define(Napi::Env env);
  // The Mapping behind a JS value, or nullptr if the value is not a Mapping.
  static Mapping* FromValue(Napi::Env env, const Napi::Value& value);

  explicit Mapping(const Napi::CallbackInfo& info);
  ~Mapping() override;

  bool IsOpen() const { return addr_ != nullptr && !closing_; }
  uint8_t* Data() const { return addr_; }
  uint64_t Size() const { return size_; }

  // A capture worker holds the mapping between Acquire and Release (both on
  // the JS thread); close() waits for the last Release.
  void Acquire() { ++users_; }
  void Release();

 private:
  Napi::Value GetSize(const Napi::CallbackInfo& info);
  Napi::Value ReadU32(const Napi::CallbackInfo& info);
  Napi::Value WriteU32(const Napi::CallbackInfo& info);
  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  // Throws (and returns false) unless [offset, offset + length) lies inside an open mapping.
  bool CheckRange(Napi::Env env, const Napi::Value& offset_value, uint64_t length, uint64_t* offset);
  void Unmap();

  uint8_t* addr_ = nullptr;
  uint64_t size_ = 0;
  int users_ = 0;
  bool closing_ = false;
};

}  // namespace vgpu
