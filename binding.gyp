{
  "targets": [
    {
      "target_name": "vgpu_vnc",
      "sources": [
        "native/addon.cc",
        "native/buffer_pool.cc",
        "native/capture.cc",
        "native/capture_core.cc",
        "native/detile.cc",
        "native/mapping.cc",
        "native/pixel_translate.cc",
        "native/raw_encoder.cc",
        "native/sigbus_guard.cc",
        "native/thread_pool.cc",
        "native/tight_filter.cc",
        "native/vfio_device.cc",
        "native/vfio_open.cc",
        "native/zrle_encoder.cc",
        "native/zstream.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O3", "-Wall", "-Wextra", "-Wno-psabi"],
      "cflags_cc!": ["-std=gnu++17"]
    }
  ]
}
