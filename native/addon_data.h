// Per-environment state: constructors used to check that an argument really
// is one of our wrapped objects before unwrapping it.
#pragma once

#include <napi.h>

namespace vgpu {

struct AddonData {
  Napi::FunctionReference mapping_constructor;
  Napi::FunctionReference vfio_device_constructor;
};

inline AddonData* GetAddonData(Napi::Env env) { return env.GetInstanceData<AddonData>(); }

}  // namespace vgpu
