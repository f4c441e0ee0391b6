// VfioDevice: one open VFIO device (and the group/container or iommufd fds it
// needs). Display queries, region and dma-buf mappings, region pread/pwrite.
// Created only by the module functions (vfioOpenGroup, vfioOpenCdev,
// vfioDeviceFromFd); vfioReceiveFd / vfioTakeFdFromPid get fds to adopt.
#pragma once

#include <napi.h>

#include <string>

#include "vfio_open.h"

namespace vgpu {

class VfioDevice : public Napi::ObjectWrap<VfioDevice> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit VfioDevice(const Napi::CallbackInfo& info);
  ~VfioDevice() override;

 private:
  Napi::Value GetDescription(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value RegionInfo(const Napi::CallbackInfo& info);
  Napi::Value QueryPlane(const Napi::CallbackInfo& info);
  Napi::Value Probe(const Napi::CallbackInfo& info);
  Napi::Value MapRegion(const Napi::CallbackInfo& info);
  Napi::Value GetDmabuf(const Napi::CallbackInfo& info);
  Napi::Value ReadRegion(const Napi::CallbackInfo& info);
  Napi::Value WriteRegion(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  // Throws EBADF (and returns false) after close().
  bool CheckOpen(Napi::Env env);

  DeviceFds fds_;
  std::string description_;
};

Napi::Value VfioOpenGroup(const Napi::CallbackInfo& info);
Napi::Value VfioOpenCdev(const Napi::CallbackInfo& info);
Napi::Value VfioDeviceFromFd(const Napi::CallbackInfo& info);
Napi::Value VfioReceiveFd(const Napi::CallbackInfo& info);
Napi::Value VfioTakeFdFromPid(const Napi::CallbackInfo& info);

}  // namespace vgpu
