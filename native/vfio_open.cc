#include "vfio_open.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "vfio_uapi.h"

namespace vgpu {

namespace {

bool Fail(OpenError* error, int err, const std::string& what) {
  error->err = err;
  error->message = what + ": " + std::strerror(err);
  return false;
}

bool FailPlain(OpenError* error, int err, const std::string& message) {
  error->err = err;
  error->message = message;
  return false;
}

void CloseFd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

}  // namespace

void CloseDeviceFds(DeviceFds* fds) {
  // Device first: the group and container must outlive it.
  CloseFd(&fds->device);
  CloseFd(&fds->group);
  CloseFd(&fds->container);
  CloseFd(&fds->iommufd);
}

bool OpenGroupDevice(const std::string& group_path, const std::string& device_name, DeviceFds* out, OpenError* error) {
  DeviceFds fds;
  auto fail = [&](int err, const std::string& what) {
    CloseDeviceFds(&fds);
    return Fail(error, err, what);
  };
  fds.container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
  if (fds.container < 0) return fail(errno, "cannot open the VFIO container /dev/vfio/vfio (is the vfio module loaded?)");
  int version = ioctl(fds.container, VFIO_GET_API_VERSION);
  if (version != VFIO_API_VERSION) {
    CloseDeviceFds(&fds);
    return FailPlain(error, EPROTO, "unknown VFIO API version " + std::to_string(version) + " (expected " +
                                        std::to_string(VFIO_API_VERSION) + ")");
  }
  int iommu_type = 0;
  if (ioctl(fds.container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) > 0) {
    iommu_type = VFIO_TYPE1v2_IOMMU;
  } else if (ioctl(fds.container, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) > 0) {
    iommu_type = VFIO_TYPE1_IOMMU;
  } else {
    CloseDeviceFds(&fds);
    return FailPlain(error, ENODEV, "the VFIO container offers no TYPE1 IOMMU (load vfio_iommu_type1)");
  }
  fds.group = open(group_path.c_str(), O_RDWR | O_CLOEXEC);
  if (fds.group < 0) return fail(errno, "cannot open VFIO group " + group_path);
  struct vfio_group_status status = {sizeof status, 0};
  if (ioctl(fds.group, VFIO_GROUP_GET_STATUS, &status) != 0) return fail(errno, group_path + ": VFIO_GROUP_GET_STATUS");
  if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
    CloseDeviceFds(&fds);
    return FailPlain(error, EINVAL, "VFIO group " + group_path +
                                        " is not viable: every device in the IOMMU group must be bound to a VFIO driver");
  }
  if (ioctl(fds.group, VFIO_GROUP_SET_CONTAINER, &fds.container) != 0) {
    return fail(errno, group_path + ": VFIO_GROUP_SET_CONTAINER");
  }
  if (ioctl(fds.container, VFIO_SET_IOMMU, iommu_type) != 0) return fail(errno, "VFIO_SET_IOMMU");
  fds.device = ioctl(fds.group, VFIO_GROUP_GET_DEVICE_FD, device_name.c_str());
  if (fds.device < 0) return fail(errno, group_path + ": no device '" + device_name + "' (VFIO_GROUP_GET_DEVICE_FD)");
  *out = fds;
  return true;
}

bool OpenCdevDevice(const std::string& cdev_path, const std::string& iommu_path, DeviceFds* out, OpenError* error) {
  DeviceFds fds;
  auto fail = [&](int err, const std::string& what) {
    CloseDeviceFds(&fds);
    return Fail(error, err, what);
  };
  fds.iommufd = open(iommu_path.c_str(), O_RDWR | O_CLOEXEC);
  if (fds.iommufd < 0) {
    if (errno == ENOENT) {
      return FailPlain(error, ENOENT, iommu_path + " does not exist: this kernel has no iommufd (Linux >= 6.6 with "
                                                   "CONFIG_IOMMUFD); open the group /dev/vfio/N instead");
    }
    return fail(errno, "cannot open " + iommu_path);
  }
  fds.device = open(cdev_path.c_str(), O_RDWR | O_CLOEXEC);
  if (fds.device < 0) return fail(errno, "cannot open VFIO device " + cdev_path);
  struct vfio_device_bind_iommufd bind = {};
  bind.argsz = sizeof bind;
  bind.iommufd = fds.iommufd;
  if (ioctl(fds.device, VFIO_DEVICE_BIND_IOMMUFD, &bind) != 0) {
    return fail(errno, cdev_path + ": VFIO_DEVICE_BIND_IOMMUFD");
  }
  *out = fds;
  return true;
}

bool CheckDeviceFd(int fd, OpenError* error) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return Fail(error, errno, "fd " + std::to_string(fd));
  struct vfio_device_info info = {};
  info.argsz = sizeof info;
  if (ioctl(fd, VFIO_DEVICE_GET_INFO, &info) == 0) return true;
  const int err = errno;
  struct vfio_group_status status = {sizeof status, 0};
  if (ioctl(fd, VFIO_GROUP_GET_STATUS, &status) == 0) {
    return FailPlain(error, EINVAL, "fd " + std::to_string(fd) + " is a VFIO group, not a device: pass the device fd");
  }
  const char* kind = S_ISREG(st.st_mode) ? "a regular file" : S_ISSOCK(st.st_mode) ? "a socket"
                     : S_ISFIFO(st.st_mode) ? "a pipe" : S_ISCHR(st.st_mode) ? "a character device" : "some other file";
  return FailPlain(error, err == ENOTTY ? ENOTTY : err,
                   "fd " + std::to_string(fd) + " is not a VFIO device (" + kind + "; VFIO_DEVICE_GET_INFO: " +
                       std::strerror(err) + ")");
}

bool ReceiveFd(const std::string& socket_path, int timeout_ms, int* fd, OpenError* error) {
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (socket_path.empty() || socket_path.size() >= sizeof addr.sun_path) {
    return FailPlain(error, ENAMETOOLONG, "socket path '" + socket_path + "' is empty or longer than " +
                                              std::to_string(sizeof addr.sun_path - 1) + " bytes");
  }
  std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());
  int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return Fail(error, errno, "socket");
  auto fail = [&](int err, const std::string& what) {
    close(sock);
    return Fail(error, err, what);
  };
  if (connect(sock, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) != 0) {
    return fail(errno, "cannot connect to " + socket_path);
  }
  struct pollfd pfd = {sock, POLLIN, 0};
  int ready;
  do {
    ready = poll(&pfd, 1, timeout_ms);
  } while (ready < 0 && errno == EINTR);
  if (ready < 0) return fail(errno, "poll");
  if (ready == 0) {
    close(sock);
    return FailPlain(error, ETIMEDOUT, socket_path + " sent nothing within " + std::to_string(timeout_ms) + " ms");
  }
  // One message: at least one data byte and one SCM_RIGHTS fd. Room for a few
  // fds so extra ones can be closed rather than leaked.
  char byte[16];
  struct iovec iov = {byte, sizeof byte};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  const int err = errno;
  close(sock);
  if (n < 0) return Fail(error, err, "recvmsg from " + socket_path);
  int got = -1;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int one;
      std::memcpy(&one, CMSG_DATA(c) + i * sizeof(int), sizeof one);
      if (got < 0) {
        got = one;
      } else {
        close(one);
      }
    }
  }
  if (got < 0) {
    if (n == 0) return FailPlain(error, EPROTO, socket_path + " closed the connection without sending a file descriptor");
    if (msg.msg_flags & MSG_CTRUNC) return FailPlain(error, EPROTO, socket_path + " sent too many file descriptors");
    return FailPlain(error, EPROTO, socket_path + " sent a message without a file descriptor (SCM_RIGHTS)");
  }
  *fd = got;
  return true;
}

bool TakeFdFromPid(int pid, int target_fd, int* fd, OpenError* error) {
  const std::string who = "process " + std::to_string(pid);
  int pidfd = static_cast<int>(syscall(kSysPidfdOpen, pid, 0));
  if (pidfd < 0) {
    const int err = errno;
    if (err == ESRCH) return FailPlain(error, err, "no " + who);
    if (err == ENOSYS) return FailPlain(error, err, "this kernel has no pidfd_open (Linux >= 5.6 needed for --vmm-pid)");
    return Fail(error, err, "pidfd_open(" + std::to_string(pid) + ")");
  }
  int got = static_cast<int>(syscall(kSysPidfdGetfd, pidfd, target_fd, 0));
  const int err = errno;
  close(pidfd);
  if (got < 0) {
    if (err == EPERM) {
      return FailPlain(error, err, "not allowed to take fd " + std::to_string(target_fd) + " from " + who +
                                       " (pidfd_getfd needs ptrace rights: run as root or as the VMM's user, "
                                       "and check /proc/sys/kernel/yama/ptrace_scope)");
    }
    if (err == EBADF) return FailPlain(error, err, who + " has no fd " + std::to_string(target_fd));
    if (err == ESRCH) return FailPlain(error, err, who + " exited");
    if (err == ENOSYS) return FailPlain(error, err, "this kernel has no pidfd_getfd (Linux >= 5.6 needed for --vmm-pid)");
    return Fail(error, err, "pidfd_getfd(" + who + ", fd " + std::to_string(target_fd) + ")");
  }
  *fd = got;
  return true;
}

}  // namespace vgpu
