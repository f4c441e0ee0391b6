// JS entry points for capture: capture() (AsyncWorker → Promise),
// captureSync(), memcpyBench() and supportedFourccs().
#pragma once

#include <napi.h>

namespace vgpu {

Napi::Value Capture(const Napi::CallbackInfo& info);
Napi::Value CaptureSync(const Napi::CallbackInfo& info);
Napi::Value MemcpyBench(const Napi::CallbackInfo& info);
Napi::Value SupportedFourccs(const Napi::CallbackInfo& info);

}  // namespace vgpu
