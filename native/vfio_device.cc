#include "vfio_device.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "addon_data.h"
#include "errors.h"
#include "mapping.h"
#include "vfio_uapi.h"

namespace vgpu {

namespace {

struct DeviceInit {
  DeviceFds fds;
  std::string description;
};

std::string ErrnoName(int err) { return uv_err_name(-err); }

Napi::Error SystemError(Napi::Env env, int err, const std::string& what) {
  return ErrorWithCode(env, ErrnoName(err), what + ": " + std::strerror(err));
}

// Wraps opened fds in a new VfioDevice (which owns them from then on).
Napi::Value NewDevice(Napi::Env env, const DeviceFds& fds, const std::string& description) {
  DeviceInit init{fds, description};
  Napi::Object object =
      GetAddonData(env)->vfio_device_constructor.New({Napi::External<DeviceInit>::New(env, &init)});
  if (env.IsExceptionPending() || object.IsEmpty()) {
    CloseDeviceFds(&init.fds);
    return Napi::Value();
  }
  return object;
}

bool StringArg(const Napi::CallbackInfo& info, size_t i, const char* name, std::string* out) {
  if (!info[i].IsString() || info[i].As<Napi::String>().Utf8Value().empty()) {
    TypeErrorWithCode(info.Env(), std::string(name) + " must be a non-empty string, got " + ValueForMessage(info[i]))
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = info[i].As<Napi::String>().Utf8Value();
  return true;
}

bool U32Arg(const Napi::CallbackInfo& info, size_t i, const char* name, uint32_t* out) {
  uint64_t v;
  if (!ToIndex(info[i], &v) || v > 0xffffffffu) {
    RangeErrorWithCode(info.Env(), std::string(name) + " must be an integer in 0..0xffffffff, got " +
                                       ValueForMessage(info[i]))
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = static_cast<uint32_t>(v);
  return true;
}

struct Region {
  uint32_t flags = 0;
  uint64_t size = 0;
  uint64_t offset = 0;
  std::vector<uint8_t> raw;  // the whole reply, capabilities included
  uint32_t cap_offset = 0;
};

// VFIO_DEVICE_GET_REGION_INFO, asking again with the size the driver wants
// when it has capabilities to report. Returns 0 or an errno.
int GetRegion(int fd, uint32_t index, Region* region) {
  std::vector<uint8_t> buffer(sizeof(vfio_region_info));
  for (int attempt = 0; attempt < 2; attempt++) {
    auto* info = reinterpret_cast<vfio_region_info*>(buffer.data());
    info->argsz = static_cast<uint32_t>(buffer.size());
    info->index = index;
    if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, info) != 0) return errno;
    if ((info->flags & VFIO_REGION_INFO_FLAG_CAPS) && info->argsz > buffer.size() && info->argsz <= 65536 &&
        attempt == 0) {
      buffer.resize(info->argsz);  // keeps the header we already have
      continue;
    }
    region->flags = info->flags;
    region->size = info->size;
    region->offset = info->offset;
    region->cap_offset = (info->flags & VFIO_REGION_INFO_FLAG_CAPS) ? info->cap_offset : 0;
    region->raw = buffer;
    return 0;
  }
  return EPROTO;
}

Napi::Array RegionCaps(Napi::Env env, const Region& region) {
  Napi::Array caps = Napi::Array::New(env);
  uint32_t at = region.cap_offset;
  // Walk the chain inside the reply only; a bounded number of hops guards against loops.
  for (int hops = 0; at >= sizeof(vfio_region_info) && at + sizeof(vfio_info_cap_header) <= region.raw.size() && hops < 32;
       hops++) {
    vfio_info_cap_header header;
    std::memcpy(&header, region.raw.data() + at, sizeof header);
    Napi::Object cap = Napi::Object::New(env);
    cap.Set("id", Napi::Number::New(env, header.id));
    cap.Set("version", Napi::Number::New(env, header.version));
    if (header.id == VFIO_REGION_INFO_CAP_TYPE && at + sizeof(vfio_region_info_cap_type) <= region.raw.size()) {
      vfio_region_info_cap_type type;
      std::memcpy(&type, region.raw.data() + at, sizeof type);
      cap.Set("type", Napi::Number::New(env, type.type));
      cap.Set("subtype", Napi::Number::New(env, type.subtype));
    } else if (header.id == VFIO_REGION_INFO_CAP_SPARSE_MMAP &&
               at + sizeof(vfio_region_info_cap_sparse_mmap) <= region.raw.size()) {
      vfio_region_info_cap_sparse_mmap sparse;
      std::memcpy(&sparse, region.raw.data() + at, sizeof sparse);
      cap.Set("areas", Napi::Number::New(env, sparse.nr_areas));
    }
    caps.Set(caps.Length(), cap);
    if (header.next == 0 || header.next <= at) break;
    at = header.next;
  }
  return caps;
}

// Region lookup for mapRegion/readRegion/writeRegion; throws a named error.
bool RegionOrThrow(Napi::Env env, int fd, uint32_t index, Region* region) {
  int err = GetRegion(fd, index, region);
  if (err == 0) return true;
  if (err == EINVAL) {
    ErrorWithCode(env, "EINVAL", "the device has no region " + std::to_string(index)).ThrowAsJavaScriptException();
  } else {
    SystemError(env, err, "VFIO_DEVICE_GET_REGION_INFO(" + std::to_string(index) + ")").ThrowAsJavaScriptException();
  }
  return false;
}

bool RangeInRegion(Napi::Env env, const Region& region, uint32_t index, uint64_t offset, uint64_t length) {
  if (offset <= region.size && length <= region.size - offset) return true;
  RangeErrorWithCode(env, "range " + std::to_string(offset) + " + " + std::to_string(length) + " exceeds region " +
                              std::to_string(index) + " size " + std::to_string(region.size))
      .ThrowAsJavaScriptException();
  return false;
}

std::string DmabufMmapReason(int err, int dmabuf_fd) {
  const int mode = fcntl(dmabuf_fd, F_GETFL);
  if (err == EINVAL && mode >= 0 && (mode & O_ACCMODE) == O_RDONLY) {
    return "the exporter does not allow CPU mmap: the dma-buf is exported read-only, so the kernel refuses a shared "
           "mapping (EINVAL) (stock mbochs exports read-only; its mbochs_dmabuf_export() needs exp_info.flags = O_RDWR)";
  }
  if (err == EINVAL) return "the exporter does not allow CPU mmap (EINVAL) (stock mbochs exports read-only)";
  if (err == ENODEV) {
    return "the dma-buf has no CPU backing, mmap is refused (ENODEV) (Intel GVT-g exports GPU memory only: it "
           "cannot be read without a GPU importer)";
  }
  return std::string("mmap of the dma-buf failed: ") + std::strerror(err);
}

}  // namespace

Napi::Function VfioDevice::Define(Napi::Env env) {
  return DefineClass(env, "VfioDevice",
                     {
                         InstanceAccessor<&VfioDevice::GetDescription>("description"),
                         InstanceMethod<&VfioDevice::Info>("info"),
                         InstanceMethod<&VfioDevice::RegionInfo>("regionInfo"),
                         InstanceMethod<&VfioDevice::QueryPlane>("queryPlane"),
                         InstanceMethod<&VfioDevice::Probe>("probe"),
                         InstanceMethod<&VfioDevice::MapRegion>("mapRegion"),
                         InstanceMethod<&VfioDevice::GetDmabuf>("getDmabuf"),
                         InstanceMethod<&VfioDevice::ReadRegion>("readRegion"),
                         InstanceMethod<&VfioDevice::WriteRegion>("writeRegion"),
                         InstanceMethod<&VfioDevice::Close>("close"),
                     });
}

VfioDevice::VfioDevice(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VfioDevice>(info) {
  if (!info[0].IsExternal()) {
    TypeErrorWithCode(info.Env(), "VfioDevice cannot be constructed directly: use vfioOpenGroup, vfioOpenCdev or "
                                  "vfioDeviceFromFd")
        .ThrowAsJavaScriptException();
    return;
  }
  DeviceInit* init = info[0].As<Napi::External<DeviceInit>>().Data();
  fds_ = init->fds;
  description_ = init->description;
  init->fds = DeviceFds{};  // ours now
}

VfioDevice::~VfioDevice() { CloseDeviceFds(&fds_); }

bool VfioDevice::CheckOpen(Napi::Env env) {
  if (fds_.device >= 0) return true;
  ErrorWithCode(env, "EBADF", "VFIO device is closed").ThrowAsJavaScriptException();
  return false;
}

Napi::Value VfioDevice::GetDescription(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), description_);
}

Napi::Value VfioDevice::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  struct vfio_device_info dev = {};
  dev.argsz = sizeof dev;
  if (ioctl(fds_.device, VFIO_DEVICE_GET_INFO, &dev) != 0) {
    SystemError(env, errno, "VFIO_DEVICE_GET_INFO").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("flags", Napi::Number::New(env, dev.flags));
  out.Set("numRegions", Napi::Number::New(env, dev.num_regions));
  out.Set("numIrqs", Napi::Number::New(env, dev.num_irqs));
  return out;
}

Napi::Value VfioDevice::RegionInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t index;
  if (!CheckOpen(env) || !U32Arg(info, 0, "index", &index)) return env.Undefined();
  Region region;
  int err = GetRegion(fds_.device, index, &region);
  if (err == EINVAL) return env.Undefined();  // no such region
  if (err != 0) {
    SystemError(env, err, "VFIO_DEVICE_GET_REGION_INFO(" + std::to_string(index) + ")").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("index", Napi::Number::New(env, index));
  out.Set("flags", Napi::Number::New(env, region.flags));
  out.Set("size", Napi::Number::New(env, static_cast<double>(region.size)));
  out.Set("offset", Napi::Number::New(env, static_cast<double>(region.offset)));
  out.Set("caps", RegionCaps(env, region));
  return out;
}

// queryPlane(type: 'primary'|'cursor', kind: 'region'|'dmabuf'): a failed ioctl
// is an answer ({ok: false, code}), never an exception: ENOMEM/EAGAIN are routine.
Napi::Value VfioDevice::QueryPlane(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string type = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  const std::string kind = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  if ((type != "primary" && type != "cursor") || (kind != "region" && kind != "dmabuf")) {
    TypeErrorWithCode(env, "queryPlane(type 'primary'|'cursor', kind 'region'|'dmabuf'), got " +
                               ValueForMessage(info[0]) + ", " + ValueForMessage(info[1]))
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object out = Napi::Object::New(env);
  auto failed = [&](int err) {
    out.Set("ok", Napi::Boolean::New(env, false));
    out.Set("code", Napi::String::New(env, ErrnoName(err)));
    out.Set("message", Napi::String::New(env, std::string("VFIO_DEVICE_QUERY_GFX_PLANE: ") + std::strerror(err)));
    return out;
  };
  if (fds_.device < 0) return failed(EBADF);
  struct vfio_device_gfx_plane_info plane = {};
  plane.argsz = sizeof plane;
  plane.flags = kind == "region" ? VFIO_GFX_PLANE_TYPE_REGION : VFIO_GFX_PLANE_TYPE_DMABUF;
  plane.drm_plane_type = type == "primary" ? 1 /* DRM_PLANE_TYPE_PRIMARY */ : 2 /* DRM_PLANE_TYPE_CURSOR */;
  int rc;
  do {
    rc = ioctl(fds_.device, VFIO_DEVICE_QUERY_GFX_PLANE, &plane);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) return failed(errno);
  out.Set("ok", Napi::Boolean::New(env, true));
  out.Set("drmFormat", Napi::Number::New(env, plane.drm_format));
  out.Set("modifier", Napi::BigInt::New(env, static_cast<uint64_t>(plane.drm_format_mod)));
  out.Set("width", Napi::Number::New(env, plane.width));
  out.Set("height", Napi::Number::New(env, plane.height));
  out.Set("stride", Napi::Number::New(env, plane.stride));
  out.Set("size", Napi::Number::New(env, plane.size));
  out.Set("xPos", Napi::Number::New(env, plane.x_pos));
  out.Set("yPos", Napi::Number::New(env, plane.y_pos));
  out.Set("xHot", Napi::Number::New(env, plane.x_hot));
  out.Set("yHot", Napi::Number::New(env, plane.y_hot));
  if (kind == "region") {
    out.Set("regionIndex", Napi::Number::New(env, plane.region_index));
  } else {
    out.Set("dmabufId", Napi::Number::New(env, plane.dmabuf_id));
  }
  return out;
}

Napi::Value VfioDevice::Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  auto supports = [&](uint32_t kind) {
    struct vfio_device_gfx_plane_info plane = {};
    plane.argsz = sizeof plane;
    plane.flags = VFIO_GFX_PLANE_TYPE_PROBE | kind;
    plane.drm_plane_type = 1;
    return ioctl(fds_.device, VFIO_DEVICE_QUERY_GFX_PLANE, &plane) == 0;
  };
  Napi::Object out = Napi::Object::New(env);
  out.Set("dmabuf", Napi::Boolean::New(env, supports(VFIO_GFX_PLANE_TYPE_DMABUF)));
  out.Set("region", Napi::Boolean::New(env, supports(VFIO_GFX_PLANE_TYPE_REGION)));
  return out;
}

// mapRegion(index, size?): a shared mapping of the region (size bytes from its start; default the whole region).
Napi::Value VfioDevice::MapRegion(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t index;
  if (!CheckOpen(env) || !U32Arg(info, 0, "index", &index)) return env.Undefined();
  Region region;
  if (!RegionOrThrow(env, fds_.device, index, &region)) return env.Undefined();
  if (!(region.flags & VFIO_REGION_INFO_FLAG_MMAP)) {
    ErrorWithCode(env, "EINVAL", "region " + std::to_string(index) + " cannot be mmapped (no MMAP flag)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uint64_t size = region.size;
  if (!info[1].IsUndefined() && (!ToIndex(info[1], &size) || size == 0)) {
    RangeErrorWithCode(env, "size must be a positive integer, got " + ValueForMessage(info[1]))
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (size == 0 || size > region.size) {
    RangeErrorWithCode(env, "cannot map " + std::to_string(size) + " bytes of region " + std::to_string(index) +
                                " (its size is " + std::to_string(region.size) + ")")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const bool writable = (region.flags & VFIO_REGION_INFO_FLAG_WRITE) != 0;
  const int prot = PROT_READ | (writable ? PROT_WRITE : 0);
  void* addr = mmap(nullptr, size, prot, MAP_SHARED, fds_.device, static_cast<off_t>(region.offset));
  if (addr == MAP_FAILED) {
    SystemError(env, errno, "cannot mmap region " + std::to_string(index) + " (" + std::to_string(size) +
                                " bytes at device offset 0x" + [&] {
                                  char hex[24];
                                  std::snprintf(hex, sizeof hex, "%llx",
                                                static_cast<unsigned long long>(region.offset));
                                  return std::string(hex);
                                }() + ")")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  MappingInit init;
  init.addr = static_cast<uint8_t*>(addr);
  init.size = size;
  init.writable = writable;
  return Mapping::Adopt(env, init);
}

// getDmabuf(id): VFIO_DEVICE_GET_GFX_DMABUF → a read-only mapping whose reads
// are bracketed by DMA_BUF_IOCTL_SYNC. The mapping owns the dma-buf fd.
Napi::Value VfioDevice::GetDmabuf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t id;
  if (!CheckOpen(env) || !U32Arg(info, 0, "dmabufId", &id)) return env.Undefined();
  int fd;
  do {
    fd = ioctl(fds_.device, VFIO_DEVICE_GET_GFX_DMABUF, &id);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    const int err = errno;
    SystemError(env, err, "VFIO_DEVICE_GET_GFX_DMABUF(" + std::to_string(id) + ")" +
                              (err == ENOENT ? " (the id is gone: the guest changed mode)" : ""))
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  const off_t end = lseek(fd, 0, SEEK_END);
  if (end <= 0) {
    const int err = end < 0 ? errno : EINVAL;
    close(fd);
    SystemError(env, err, "cannot size dma-buf " + std::to_string(id)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uint64_t size = static_cast<uint64_t>(end);
  void* addr = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  if (addr == MAP_FAILED && errno == EINVAL && size % page != 0 && size > page) {
    // dma_buf_mmap refuses a partial last page: map the whole pages only; the
    // plane check then says if the picture does not fit.
    size -= size % page;
    addr = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  }
  if (addr == MAP_FAILED) {
    const int err = errno;
    const std::string reason = DmabufMmapReason(err, fd);
    close(fd);
    ErrorWithCode(env, ErrnoName(err), "dma-buf " + std::to_string(id) + ": " + reason).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  MappingInit init;
  init.addr = static_cast<uint8_t*>(addr);
  init.size = size;
  init.writable = false;
  init.sync_fd = fd;
  return Mapping::Adopt(env, init);
}

// readRegion(index, offset, length) → Buffer: pread inside the region (registers, EDID).
Napi::Value VfioDevice::ReadRegion(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t index;
  uint64_t offset, length;
  if (!CheckOpen(env) || !U32Arg(info, 0, "index", &index)) return env.Undefined();
  if (!ToIndex(info[1], &offset) || !ToIndex(info[2], &length) || length > (uint64_t{1} << 24)) {
    RangeErrorWithCode(env, "readRegion(index, offset, length): offset and length must be non-negative integers, "
                            "length at most 16 MiB")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Region region;
  if (!RegionOrThrow(env, fds_.device, index, &region) || !RangeInRegion(env, region, index, offset, length)) {
    return env.Undefined();
  }
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, length);
  uint64_t done = 0;
  while (done < length) {
    ssize_t n = pread(fds_.device, out.Data() + done, length - done, static_cast<off_t>(region.offset + offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      SystemError(env, n < 0 ? errno : EIO, "read of region " + std::to_string(index) + " at " +
                                                std::to_string(offset + done))
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    done += static_cast<uint64_t>(n);
  }
  return out;
}

// writeRegion(index, offset, data): one pwrite (drivers decode register writes by their size).
Napi::Value VfioDevice::WriteRegion(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t index;
  uint64_t offset;
  if (!CheckOpen(env) || !U32Arg(info, 0, "index", &index)) return env.Undefined();
  if (!ToIndex(info[1], &offset)) {
    RangeErrorWithCode(env, "offset must be a non-negative integer, got " + ValueForMessage(info[1]))
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    TypeErrorWithCode(env, "data must be a Buffer or Uint8Array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint8Array data = info[2].As<Napi::Uint8Array>();
  Region region;
  if (!RegionOrThrow(env, fds_.device, index, &region) ||
      !RangeInRegion(env, region, index, offset, data.ByteLength())) {
    return env.Undefined();
  }
  ssize_t n;
  do {
    n = pwrite(fds_.device, data.Data(), data.ByteLength(), static_cast<off_t>(region.offset + offset));
  } while (n < 0 && errno == EINTR);
  if (n < 0 || static_cast<size_t>(n) != data.ByteLength()) {
    SystemError(env, n < 0 ? errno : EIO, "write of " + std::to_string(data.ByteLength()) + " bytes to region " +
                                              std::to_string(index) + " at " + std::to_string(offset))
        .ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

Napi::Value VfioDevice::Close(const Napi::CallbackInfo& info) {
  // Mappings stay valid: each mmap holds its own reference to the device file.
  CloseDeviceFds(&fds_);
  return info.Env().Undefined();
}

Napi::Value VfioOpenGroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string group_path, device_name;
  if (!StringArg(info, 0, "groupPath", &group_path) || !StringArg(info, 1, "deviceName", &device_name)) {
    return env.Undefined();
  }
  DeviceFds fds;
  OpenError error;
  if (!OpenGroupDevice(group_path, device_name, &fds, &error)) {
    ErrorWithCode(env, ErrnoName(error.err), error.message).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return NewDevice(env, fds, group_path + " device " + device_name);
}

Napi::Value VfioOpenCdev(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string cdev_path, iommu_path = "/dev/iommu";
  if (!StringArg(info, 0, "cdevPath", &cdev_path)) return env.Undefined();
  if (!info[1].IsUndefined() && !StringArg(info, 1, "iommuPath", &iommu_path)) return env.Undefined();
  DeviceFds fds;
  OpenError error;
  if (!OpenCdevDevice(cdev_path, iommu_path, &fds, &error)) {
    ErrorWithCode(env, ErrnoName(error.err), error.message).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return NewDevice(env, fds, cdev_path);
}

// vfioDeviceFromFd(fd, description?): adopts fd (closed on failure too).
Napi::Value VfioDeviceFromFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t fd64;
  if (!ToIndex(info[0], &fd64) || fd64 > 0x7fffffff) {
    RangeErrorWithCode(env, "fd must be a non-negative integer, got " + ValueForMessage(info[0]))
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int fd = static_cast<int>(fd64);
  std::string description = "fd " + std::to_string(fd);
  if (info[1].IsString()) description = info[1].As<Napi::String>().Utf8Value();
  OpenError error;
  if (!CheckDeviceFd(fd, &error)) {
    if (error.err != EBADF) close(fd);
    ErrorWithCode(env, ErrnoName(error.err), error.message).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  DeviceFds fds;
  fds.device = fd;
  return NewDevice(env, fds, description);
}

namespace {

class ReceiveFdWorker : public Napi::AsyncWorker {
 public:
  ReceiveFdWorker(Napi::Env env, std::string path, int timeout_ms)
      : Napi::AsyncWorker(env, "vgpu-vnc:receive-fd"),
        deferred_(Napi::Promise::Deferred::New(env)),
        path_(std::move(path)),
        timeout_ms_(timeout_ms) {}
  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    if (!ReceiveFd(path_, timeout_ms_, &fd_, &error_)) SetError(error_.message);
  }
  void OnOK() override { deferred_.Resolve(Napi::Number::New(Env(), fd_)); }
  void OnError(const Napi::Error&) override {
    deferred_.Reject(ErrorWithCode(Env(), ErrnoName(error_.err), error_.message).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::string path_;
  int timeout_ms_;
  int fd_ = -1;
  OpenError error_;
};

}  // namespace

// vfioReceiveFd(socketPath, timeoutMs) → Promise<fd>.
Napi::Value VfioReceiveFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  uint64_t timeout = 5000;
  if (!StringArg(info, 0, "socketPath", &path)) return env.Undefined();
  if (!info[1].IsUndefined() && (!ToIndex(info[1], &timeout) || timeout > 600000)) {
    RangeErrorWithCode(env, "timeoutMs must be an integer in 0..600000, got " + ValueForMessage(info[1]))
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto* worker = new ReceiveFdWorker(env, path, static_cast<int>(timeout));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// vfioTakeFdFromPid(pid, fd) → a new fd (close-on-exec) duplicating the other process's fd.
Napi::Value VfioTakeFdFromPid(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t pid, target;
  if (!ToIndex(info[0], &pid) || pid == 0 || pid > 0x7fffffff || !ToIndex(info[1], &target) || target > 0x7fffffff) {
    RangeErrorWithCode(env, "vfioTakeFdFromPid(pid, fd): pid must be a positive integer and fd a non-negative one")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd;
  OpenError error;
  if (!TakeFdFromPid(static_cast<int>(pid), static_cast<int>(target), &fd, &error)) {
    ErrorWithCode(env, ErrnoName(error.err), error.message).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
}

}  // namespace vgpu
