#include "mapping.h"

#include <fcntl.h>
#include <linux/dma-buf.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "addon_data.h"
#include "errors.h"
#include "sigbus_guard.h"

namespace vgpu {

namespace {

Napi::Error SystemError(Napi::Env env, int err, const std::string& what) {
  return ErrorWithCode(env, uv_err_name(-err), what + ": " + std::strerror(err));
}

Napi::Error SigbusError(Napi::Env env, uint64_t offset) {
  return ErrorWithCode(env, "SIGBUS",
                       "bus error reading the mapping at offset " + std::to_string(offset) +
                           " (the file or device region shrank or vanished)");
}

}  // namespace

Napi::Function Mapping::Define(Napi::Env env) {
  return DefineClass(env, "Mapping",
                     {
                         InstanceAccessor<&Mapping::GetSize>("size"),
                         InstanceAccessor<&Mapping::GetWritable>("writable"),
                         InstanceMethod<&Mapping::ReadU32>("readU32"),
                         InstanceMethod<&Mapping::WriteU32>("writeU32"),
                         InstanceMethod<&Mapping::Write>("write"),
                         InstanceMethod<&Mapping::Read>("read"),
                         InstanceMethod<&Mapping::Close>("close"),
                     });
}

Mapping* Mapping::FromValue(Napi::Env env, const Napi::Value& value) {
  if (!value.IsObject()) return nullptr;
  AddonData* data = GetAddonData(env);
  bool is_mapping = false;
  if (napi_instanceof(env, value, data->mapping_constructor.Value(), &is_mapping) != napi_ok || !is_mapping) {
    return nullptr;
  }
  return Unwrap(value.As<Napi::Object>());
}

Napi::Value Mapping::Adopt(Napi::Env env, const MappingInit& init) {
  MappingInit copy = init;
  Napi::External<MappingInit> external = Napi::External<MappingInit>::New(env, &copy);
  Napi::Object object = GetAddonData(env)->mapping_constructor.New({external});
  if (env.IsExceptionPending() || object.IsEmpty()) {
    // The constructor did not take ownership.
    if (copy.addr != nullptr) munmap(copy.addr, copy.size);
    if (copy.sync_fd >= 0) close(copy.sync_fd);
    return Napi::Value();
  }
  return object;
}

Mapping::Mapping(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Mapping>(info) {
  Napi::Env env = info.Env();
  InstallSigbusHandler();
  if (info[0].IsExternal()) {
    // From Adopt(): take over the mmap (and clear the caller's copy so it does not free it).
    MappingInit* init = info[0].As<Napi::External<MappingInit>>().Data();
    addr_ = init->addr;
    size_ = init->size;
    writable_ = init->writable;
    sync_fd_ = init->sync_fd;
    *init = MappingInit{};
    return;
  }
  if (!info[0].IsString()) {
    TypeErrorWithCode(env, "Mapping: path must be a string").ThrowAsJavaScriptException();
    return;
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    SystemError(env, errno, "cannot open " + path).ThrowAsJavaScriptException();
    return;
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    SystemError(env, err, "cannot stat " + path).ThrowAsJavaScriptException();
    return;
  }
  uint64_t size = 0;
  if (S_ISREG(st.st_mode)) {
    size = static_cast<uint64_t>(st.st_size);
  } else if (S_ISCHR(st.st_mode)) {
    // Character devices report st_size 0; ask the driver how far it seeks.
    off_t end = lseek(fd, 0, SEEK_END);
    size = end > 0 ? static_cast<uint64_t>(end) : 0;
  } else {
    close(fd);
    ErrorWithCode(env, "EINVAL", "cannot map " + path + ": not a regular file or character device")
        .ThrowAsJavaScriptException();
    return;
  }
  if (size == 0) {
    close(fd);
    ErrorWithCode(env, "EINVAL", "cannot map " + path + ": it is empty (size 0)").ThrowAsJavaScriptException();
    return;
  }
  void* addr = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int err = errno;
  close(fd);  // the mapping keeps its own reference to the file
  if (addr == MAP_FAILED) {
    SystemError(env, err, "cannot mmap " + path).ThrowAsJavaScriptException();
    return;
  }
  addr_ = static_cast<uint8_t*>(addr);
  size_ = size;
}

Mapping::~Mapping() { Unmap(); }

void Mapping::Unmap() {
  if (addr_ != nullptr) {
    munmap(addr_, size_);
    addr_ = nullptr;
  }
  if (sync_fd_ >= 0) {
    close(sync_fd_);
    sync_fd_ = -1;
  }
}

// A failed SYNC (exporter without CPU-access hooks) is not fatal: the read
// goes ahead, at worst seeing a frame the GPU is still writing (tearing).
void Mapping::BeginCpuRead() const {
  if (sync_fd_ < 0) return;
  struct dma_buf_sync sync = {DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ};
  while (ioctl(sync_fd_, DMA_BUF_IOCTL_SYNC, &sync) != 0 && (errno == EINTR || errno == EAGAIN)) {
  }
}

void Mapping::EndCpuRead() const {
  if (sync_fd_ < 0) return;
  struct dma_buf_sync sync = {DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ};
  while (ioctl(sync_fd_, DMA_BUF_IOCTL_SYNC, &sync) != 0 && (errno == EINTR || errno == EAGAIN)) {
  }
}

bool Mapping::CheckWritable(Napi::Env env) {
  if (writable_) return true;
  ErrorWithCode(env, "EACCES", "mapping is read-only").ThrowAsJavaScriptException();
  return false;
}

Napi::Value Mapping::GetWritable(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), writable_); }

void Mapping::Release() {
  if (--users_ == 0 && closing_) Unmap();
}

bool Mapping::CheckRange(Napi::Env env, const Napi::Value& offset_value, uint64_t length, uint64_t* offset) {
  if (!IsOpen()) {
    ErrorWithCode(env, "EBADF", "mapping is closed").ThrowAsJavaScriptException();
    return false;
  }
  if (!ToIndex(offset_value, offset)) {
    RangeErrorWithCode(env, "offset must be a non-negative integer, got " + ValueForMessage(offset_value))
        .ThrowAsJavaScriptException();
    return false;
  }
  if (*offset > size_ || length > size_ - *offset) {
    RangeErrorWithCode(env, "range " + std::to_string(*offset) + " + " + std::to_string(length) +
                                " exceeds mapping size " + std::to_string(size_))
        .ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

Napi::Value Mapping::GetSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(size_));
}

Napi::Value Mapping::ReadU32(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t offset;
  if (!CheckRange(env, info[0], 4, &offset)) return env.Undefined();
  const uint8_t* src = addr_ + offset;
  uint32_t value = 0;
  BeginCpuRead();
  bool ok = RunGuarded([&] {
    // volatile: read the (possibly guest-updated) bytes now, once.
    const volatile uint8_t* p = src;
    value = static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
            static_cast<uint32_t>(p[3]) << 24;
  });
  if (!ok) {
    SigbusError(env, offset).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, value);
}

Napi::Value Mapping::WriteU32(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t offset;
  if (!CheckRange(env, info[0], 4, &offset) || !CheckWritable(env)) return env.Undefined();
  double d = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : -1.0;
  if (!(d >= 0 && d <= 4294967295.0) || d != static_cast<double>(static_cast<uint32_t>(d))) {
    RangeErrorWithCode(env, "value must be an integer in 0..0xffffffff, got " + ValueForMessage(info[1]))
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uint32_t value = static_cast<uint32_t>(d);
  uint8_t* dst = addr_ + offset;
  bool ok = RunGuarded([&] {
    volatile uint8_t* p = dst;
    p[0] = static_cast<uint8_t>(value);
    p[1] = static_cast<uint8_t>(value >> 8);
    p[2] = static_cast<uint8_t>(value >> 16);
    p[3] = static_cast<uint8_t>(value >> 24);
  });
  if (!ok) SigbusError(env, offset).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value Mapping::Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t length;
  if (!ToIndex(info[1], &length)) {
    RangeErrorWithCode(env, "length must be a non-negative integer, got " + ValueForMessage(info[1]))
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uint64_t offset;
  if (!CheckRange(env, info[0], length, &offset)) return env.Undefined();
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, length);
  if (env.IsExceptionPending()) return env.Undefined();
  uint8_t* dst = out.Data();
  const uint8_t* src = addr_ + offset;
  BeginCpuRead();
  bool ok = RunGuarded([&] { std::memcpy(dst, src, length); });
  EndCpuRead();
  if (!ok) {
    SigbusError(env, offset).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return out;
}

Napi::Value Mapping::Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    TypeErrorWithCode(env, "data must be a Buffer or Uint8Array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint8Array data = info[1].As<Napi::Uint8Array>();
  const uint64_t length = data.ByteLength();
  uint64_t offset;
  if (!CheckRange(env, info[0], length, &offset) || !CheckWritable(env)) return env.Undefined();
  const uint8_t* src = data.Data();
  uint8_t* dst = addr_ + offset;
  bool ok = RunGuarded([&] { std::memcpy(dst, src, length); });
  if (!ok) SigbusError(env, offset).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value Mapping::Close(const Napi::CallbackInfo& info) {
  closing_ = true;
  if (users_ == 0) Unmap();
  return info.Env().Undefined();
}

}  // namespace vgpu
