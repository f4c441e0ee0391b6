#define _GNU_SOURCE
// painter: plays the VMM for the kernel tests. It opens a VFIO mdev the way a
// VMM does (container, group, TYPE1v2, device fd), holds it, paints pictures
// into the device's memory through the BAR0 mmap (what the guest OS would do),
// sets Bochs DISPI modes (mbochs: 16-bit writes at BAR2 0x500 + 2*index), and
// hands its device fd to whoever connects to --socket (one message, one byte
// 'V', one SCM_RIGHTS fd).
//
//   painter --group /dev/vfio/N --device UUID [--socket PATH]
//
// Commands on stdin, one per line; every reply is one line on stdout:
//   paint FILE [OFFSET]   copy FILE into BAR0 at OFFSET      -> ok painted BYTES
//   mode W H              DISPI: disable, xres, yres, bpp 32, virt width, enable|LFB -> ok mode W H
//   disable               DISPI enable = 0                  -> ok disabled
//   drop                  release the device like a VMM unplugging it: unmap BAR0, close
//                         device, group and container       -> ok dropped
//   open GROUP UUID       open another device (after drop)  -> ok opened fd DEVICEFD bar0 SIZE
//   quit                                                      -> ok bye
// Startup prints "ready pid PID fd DEVICEFD bar0 SIZE" once the socket listens.
// Built static on the host (the guest has no compiler): see vfio.ktest.ts.
#include <errno.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int device = -1, group_fd = -1, container_fd = -1;
static uint8_t *bar0;
static uint64_t bar0_size;
static struct vfio_region_info bar2;

static void die(const char *what) {
  fprintf(stdout, "fatal %s: %s\n", what, strerror(errno));
  fflush(stdout);
  exit(1);
}

static int region(uint32_t index, struct vfio_region_info *info) {
  memset(info, 0, sizeof *info);
  info->argsz = sizeof *info;
  info->index = index;
  return ioctl(device, VFIO_DEVICE_GET_REGION_INFO, info);
}

static void release_device(void) {
  if (bar0) munmap(bar0, bar0_size);  // the mapping holds the device file too
  bar0 = NULL;
  bar0_size = 0;
  memset(&bar2, 0, sizeof bar2);
  if (device >= 0) close(device);
  if (group_fd >= 0) close(group_fd);
  if (container_fd >= 0) close(container_fd);
  device = group_fd = container_fd = -1;
}

// Returns the failing step (errno set) or NULL; on failure nothing stays open.
static const char *open_device(const char *group_path, const char *name) {
  const char *failed = NULL;
  container_fd = open("/dev/vfio/vfio", O_RDWR);
  if (container_fd < 0) failed = "open /dev/vfio/vfio";
  if (!failed && (group_fd = open(group_path, O_RDWR)) < 0) failed = "open group";
  struct vfio_group_status status = {sizeof status, 0};
  if (!failed && (ioctl(group_fd, VFIO_GROUP_GET_STATUS, &status) || !(status.flags & VFIO_GROUP_FLAGS_VIABLE))) failed = "group status";
  if (!failed && ioctl(group_fd, VFIO_GROUP_SET_CONTAINER, &container_fd)) failed = "VFIO_GROUP_SET_CONTAINER";
  if (!failed && ioctl(container_fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)) failed = "VFIO_SET_IOMMU";
  if (!failed && (device = ioctl(group_fd, VFIO_GROUP_GET_DEVICE_FD, name)) < 0) failed = "VFIO_GROUP_GET_DEVICE_FD";
  if (failed) {
    int err = errno;
    release_device();
    errno = err;
  }
  // group and container stay open while the device is held, as in a VMM
  return failed;
}

static const char *map_bar0(void) {
  struct vfio_region_info info;
  if (region(VFIO_PCI_BAR0_REGION_INDEX, &info)) return "BAR0 region info";
  void *p = mmap(NULL, info.size, PROT_READ | PROT_WRITE, MAP_SHARED, device, (off_t)info.offset);
  if (p == MAP_FAILED) return "mmap BAR0";
  bar0 = p;
  bar0_size = info.size;
  if (region(VFIO_PCI_BAR2_REGION_INDEX, &bar2)) memset(&bar2, 0, sizeof bar2);
  return NULL;
}

static int listen_on(const char *path) {
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (s < 0 || strlen(path) >= sizeof addr.sun_path) die("socket");
  strcpy(addr.sun_path, path);
  unlink(path);
  if (bind(s, (struct sockaddr *)&addr, sizeof addr) || listen(s, 8)) die("bind/listen");
  return s;
}

static void hand_over(int listener) {
  int c = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
  if (c < 0) return;
  if (device < 0) {  // dropped: nothing to hand over
    close(c);
    return;
  }
  char byte = 'V';
  struct iovec iov = {&byte, 1};
  char control[CMSG_SPACE(sizeof(int))];
  memset(control, 0, sizeof control);
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
  struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cmsg), &device, sizeof(int));
  if (sendmsg(c, &msg, 0) != 1) fprintf(stderr, "painter: sendmsg: %s\n", strerror(errno));
  close(c);
}

static int dispi(unsigned index, uint16_t value) {
  if (bar2.size == 0) {
    errno = ENODEV;
    return -1;
  }
  // One 2-byte pwrite: mbochs decodes DISPI registers by access size.
  return pwrite(device, &value, 2, (off_t)(bar2.offset + 0x500 + 2 * index)) == 2 ? 0 : -1;
}

static void command(char *line) {
  char a[512];
  unsigned long long off = 0;
  unsigned w, h;
  line[strcspn(line, "\n")] = 0;
  char b[512];
  if (strcmp(line, "drop") == 0) {
    release_device();
    printf("ok dropped\n");
    return;
  }
  if (sscanf(line, "open %511s %511s", a, b) == 2) {
    release_device();
    const char *failed = open_device(a, b);
    if (!failed) failed = map_bar0();
    if (failed) {
      printf("err open %s: %s\n", failed, strerror(errno));
      release_device();
    } else {
      printf("ok opened fd %d bar0 %llu\n", device, (unsigned long long)bar0_size);
    }
    return;
  }
  if (device < 0 && strcmp(line, "quit") != 0) {
    printf("err no device (dropped)\n");
    return;
  }
  if (sscanf(line, "paint %511s %llu", a, &off) >= 1) {
    int fd = open(a, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st)) {
      printf("err paint %s: %s\n", a, strerror(errno));
      if (fd >= 0) close(fd);
      return;
    }
    if (off > bar0_size || (uint64_t)st.st_size > bar0_size - off) {
      printf("err paint: %lld bytes at %llu exceed BAR0 (%llu)\n", (long long)st.st_size, off, (unsigned long long)bar0_size);
      close(fd);
      return;
    }
    uint64_t done = 0;
    while (done < (uint64_t)st.st_size) {
      ssize_t n = read(fd, bar0 + off + done, (size_t)st.st_size - done);
      if (n <= 0) break;
      done += (uint64_t)n;
    }
    close(fd);
    printf("ok painted %llu\n", (unsigned long long)done);
  } else if (sscanf(line, "mode %u %u", &w, &h) == 2) {
    if (dispi(4, 0) || dispi(1, w) || dispi(2, h) || dispi(3, 32) || dispi(6, w) || dispi(8, 0) || dispi(9, 0) ||
        dispi(4, 0x41)) {
      printf("err mode: %s\n", strerror(errno));
    } else {
      printf("ok mode %u %u\n", w, h);
    }
  } else if (strcmp(line, "disable") == 0) {
    if (dispi(4, 0)) printf("err disable: %s\n", strerror(errno));
    else printf("ok disabled\n");
  } else if (strcmp(line, "quit") == 0) {
    printf("ok bye\n");
    fflush(stdout);
    exit(0);
  } else {
    printf("err unknown command '%s'\n", line);
  }
}

int main(int argc, char **argv) {
  const char *group = NULL, *name = NULL, *sock = NULL;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--group")) group = argv[i + 1];
    else if (!strcmp(argv[i], "--device")) name = argv[i + 1];
    else if (!strcmp(argv[i], "--socket")) sock = argv[i + 1];
  }
  if (!group || !name) {
    fprintf(stderr, "usage: painter --group /dev/vfio/N --device UUID [--socket PATH]\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *failed = open_device(group, name);
  if (!failed) failed = map_bar0();
  if (failed) die(failed);
  int listener = sock ? listen_on(sock) : -1;
  printf("ready pid %d fd %d bar0 %llu\n", getpid(), device, (unsigned long long)bar0_size);
  char line[1024];
  size_t used = 0;
  for (;;) {
    struct pollfd p[2] = {{0, POLLIN, 0}, {listener, POLLIN, 0}};
    if (poll(p, listener >= 0 ? 2 : 1, -1) < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    if (listener >= 0 && (p[1].revents & POLLIN)) hand_over(listener);
    if (p[0].revents & (POLLIN | POLLHUP)) {
      ssize_t n = read(0, line + used, sizeof line - 1 - used);
      if (n <= 0) return 0;  // stdin closed: the test is over
      used += (size_t)n;
      line[used] = 0;
      char *nl;
      while ((nl = strchr(line, '\n')) != NULL) {
        *nl = 0;
        command(line);
        size_t rest = used - (size_t)(nl + 1 - line);
        memmove(line, nl + 1, rest);
        used = rest;
        line[used] = 0;
      }
      if (used == sizeof line - 1) used = 0;  // overlong line: drop it
    }
  }
}
