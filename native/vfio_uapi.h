// The VFIO / dma-buf UAPI this addon uses (include/uapi/linux/vfio.h and
// dma-buf.h), checked against the numbers in REFERENCE.md §1 at compile time.
#pragma once

#include <linux/dma-buf.h>
#include <linux/vfio.h>
#include <sys/ioctl.h>

#include <cstddef>
#include <cstdint>

// Added in Linux 6.6 (cdev + iommufd); older userspace headers lack it.
#ifndef VFIO_DEVICE_BIND_IOMMUFD
struct vfio_device_bind_iommufd {
  __u32 argsz;
  __u32 flags;
  __s32 iommufd;
  __u32 out_devid;
};
#define VFIO_DEVICE_BIND_IOMMUFD _IO(VFIO_TYPE, VFIO_BASE + 18)
#endif

namespace vgpu {

static_assert(VFIO_DEVICE_GET_INFO == 0x3B6B, "VFIO_DEVICE_GET_INFO");
static_assert(VFIO_DEVICE_GET_REGION_INFO == 0x3B6C, "VFIO_DEVICE_GET_REGION_INFO");
static_assert(VFIO_DEVICE_QUERY_GFX_PLANE == 0x3B72, "VFIO_DEVICE_QUERY_GFX_PLANE");
static_assert(VFIO_DEVICE_GET_GFX_DMABUF == 0x3B73, "VFIO_DEVICE_GET_GFX_DMABUF");
static_assert(VFIO_DEVICE_BIND_IOMMUFD == 0x3B76, "VFIO_DEVICE_BIND_IOMMUFD");
static_assert(DMA_BUF_IOCTL_SYNC == 0x40086200, "DMA_BUF_IOCTL_SYNC");
static_assert(sizeof(vfio_device_gfx_plane_info) == 64, "vfio_device_gfx_plane_info is 64 bytes");
static_assert(offsetof(vfio_device_gfx_plane_info, drm_format_mod) == 16, "drm_format_mod at 16");
static_assert(offsetof(vfio_device_gfx_plane_info, region_index) == 56, "region_index at 56");
static_assert(sizeof(vfio_region_gfx_edid) == 24, "vfio_region_gfx_edid is six u32");

// x86-64 syscall numbers (glibc 2.36 has wrappers, but older ones do not).
constexpr long kSysPidfdOpen = 434;
constexpr long kSysPidfdGetfd = 438;

}  // namespace vgpu
