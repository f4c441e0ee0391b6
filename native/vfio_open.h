// Getting hold of a VFIO device fd: by group (container + group), by cdev
// (+ iommufd), by receiving it over a unix socket (SCM_RIGHTS), or by taking
// it from another process (pidfd_getfd). Plain C++, no N-API; errors are an
// errno plus a one-line message.
#pragma once

#include <string>

namespace vgpu {

struct OpenError {
  int err = 0;  // errno value (EPROTO for protocol faults)
  std::string message;
};

// Every fd a device needs kept open; -1 where unused.
struct DeviceFds {
  int device = -1;
  int group = -1;
  int container = -1;
  int iommufd = -1;
};

void CloseDeviceFds(DeviceFds* fds);

// /dev/vfio/vfio container + group_path, TYPE1v2 (or TYPE1) IOMMU, then the
// device named device_name (mdev UUID or PCI address).
bool OpenGroupDevice(const std::string& group_path, const std::string& device_name, DeviceFds* fds, OpenError* error);

// /dev/vfio/devices/vfioX bound to a fresh iommufd (Linux >= 6.6).
bool OpenCdevDevice(const std::string& cdev_path, const std::string& iommu_path, DeviceFds* fds, OpenError* error);

// Verifies fd is a VFIO device (VFIO_DEVICE_GET_INFO answers); says what it is otherwise.
bool CheckDeviceFd(int fd, OpenError* error);

// Connects to a unix stream socket and receives one message carrying one fd
// (SCM_RIGHTS). Blocks up to timeout_ms: run off the JS thread.
bool ReceiveFd(const std::string& socket_path, int timeout_ms, int* fd, OpenError* error);

// pidfd_open(pid) + pidfd_getfd(target_fd): a duplicate of another process's fd (needs ptrace rights).
bool TakeFdFromPid(int pid, int target_fd, int* fd, OpenError* error);

}  // namespace vgpu
