// vgpu-vnc native addon: mappings, capture (convert + compare + dirty tiles),
// and a persistent zlib stream. See src/native.ts for the typed JS view.
#include <napi.h>

#include "addon_data.h"
#include "buffer_pool.h"
#include "capture.h"
#include "mapping.h"
#include "raw_encoder.h"
#include "sigbus_guard.h"
#include "tight_filter.h"
#include "vfio_device.h"
#include "zrle_encoder.h"
#include "zstream.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  vgpu::InstallSigbusHandler();
  auto* data = new vgpu::AddonData();
  env.SetInstanceData(data);

  Napi::Function mapping = vgpu::Mapping::Define(env);
  data->mapping_constructor = Napi::Persistent(mapping);
  exports.Set("Mapping", mapping);
  Napi::Function vfio_device = vgpu::VfioDevice::Define(env);
  data->vfio_device_constructor = Napi::Persistent(vfio_device);
  exports.Set("VfioDevice", vfio_device);
  exports.Set("vfioOpenGroup", Napi::Function::New(env, vgpu::VfioOpenGroup, "vfioOpenGroup"));
  exports.Set("vfioOpenCdev", Napi::Function::New(env, vgpu::VfioOpenCdev, "vfioOpenCdev"));
  exports.Set("vfioDeviceFromFd", Napi::Function::New(env, vgpu::VfioDeviceFromFd, "vfioDeviceFromFd"));
  exports.Set("vfioReceiveFd", Napi::Function::New(env, vgpu::VfioReceiveFd, "vfioReceiveFd"));
  exports.Set("vfioTakeFdFromPid", Napi::Function::New(env, vgpu::VfioTakeFdFromPid, "vfioTakeFdFromPid"));
  exports.Set("ZStream", vgpu::ZStream::Define(env));
  exports.Set("rawEncode", Napi::Function::New(env, vgpu::RawEncode, "rawEncode"));
  exports.Set("rawEncodeSync", Napi::Function::New(env, vgpu::RawEncodeSync, "rawEncodeSync"));
  exports.Set("zrleEncode", Napi::Function::New(env, vgpu::ZrleEncode, "zrleEncode"));
  exports.Set("zrleEncodeSync", Napi::Function::New(env, vgpu::ZrleEncodeSync, "zrleEncodeSync"));
  exports.Set("recycleBuffer", Napi::Function::New(env, vgpu::RecycleBuffer, "recycleBuffer"));
  exports.Set("capture", Napi::Function::New(env, vgpu::Capture, "capture"));
  exports.Set("captureSync", Napi::Function::New(env, vgpu::CaptureSync, "captureSync"));
  exports.Set("tightFilter", Napi::Function::New(env, vgpu::TightFilter, "tightFilter"));
  exports.Set("tightSampleRatio", Napi::Function::New(env, vgpu::TightSampleRatio, "tightSampleRatio"));
  exports.Set("tightDeflateAsync", Napi::Function::New(env, vgpu::TightDeflateAsync, "tightDeflateAsync"));
  exports.Set("tightFilterBench", Napi::Function::New(env, vgpu::TightFilterBench, "tightFilterBench"));
  exports.Set("memcpyBench", Napi::Function::New(env, vgpu::MemcpyBench, "memcpyBench"));
  exports.Set("supportedFourccs", Napi::Function::New(env, vgpu::SupportedFourccs, "supportedFourccs"));
  return exports;
}

}  // namespace

NODE_API_MODULE(vgpu_vnc, Init)
