// Mapping: one shared read-write mmap of a whole file (or character device).
// Mapped once; every access from JS is bounds-checked and SIGBUS-guarded, and
// JS only ever receives copies.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>

namespace vgpu {

// An mmap made elsewhere in the addon (a device region, a dma-buf) that a new
// Mapping object takes over: it unmaps addr and closes sync_fd when done.
struct MappingInit {
  uint8_t* addr = nullptr;
  uint64_t size = 0;
  bool writable = false;
  // dma-buf fd: every CPU read is bracketed by DMA_BUF_IOCTL_SYNC on it; -1 for none.
  int sync_fd = -1;
};

class Mapping : public Napi::ObjectWrap<Mapping> {
 public:
  static Napi::Function Define(Napi::Env env);
  // The Mapping behind a JS value, or nullptr if the value is not a Mapping.
  static Mapping* FromValue(Napi::Env env, const Napi::Value& value);

  // Wraps an existing mmap in a new JS Mapping (ownership passes on success
  // and on failure). Returns an empty value with a JS exception pending on failure.
  static Napi::Value Adopt(Napi::Env env, const MappingInit& init);

  explicit Mapping(const Napi::CallbackInfo& info);
  ~Mapping() override;

  bool IsOpen() const { return addr_ != nullptr && !closing_; }
  uint8_t* Data() const { return addr_; }
  uint64_t Size() const { return size_; }

  // A capture worker holds the mapping between Acquire and Release (both on
  // the JS thread); close() waits for the last Release.
  void Acquire() { ++users_; }
  void Release();

  // Bracket CPU reads of a dma-buf (no-ops for other mappings). Any thread.
  void BeginCpuRead() const;
  void EndCpuRead() const;

 private:
  Napi::Value GetSize(const Napi::CallbackInfo& info);
  Napi::Value ReadU32(const Napi::CallbackInfo& info);
  Napi::Value WriteU32(const Napi::CallbackInfo& info);
  Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value GetWritable(const Napi::CallbackInfo& info);
  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  // Throws (and returns false) unless [offset, offset + length) lies inside an open mapping.
  bool CheckRange(Napi::Env env, const Napi::Value& offset_value, uint64_t length, uint64_t* offset);
  // Throws EACCES (and returns false) for a read-only mapping.
  bool CheckWritable(Napi::Env env);
  void Unmap();

  uint8_t* addr_ = nullptr;
  uint64_t size_ = 0;
  int users_ = 0;
  bool closing_ = false;
  bool writable_ = true;
  int sync_fd_ = -1;
};

}  // namespace vgpu
