/*
 * xshm-player: plays a pre-generated frame sequence into an X server's root
 * window (here TigerVNC's Xvnc) with MIT-SHM, at a fixed frame rate.
 *
 *   xshm-player DISPLAY FRAMES_FILE FRAME_COUNT TS_FILE FPS SECONDS
 *
 * FRAMES_FILE holds FRAME_COUNT frames of 1920x1080 XRGB8888 (bytes B,G,R,0),
 * back to back. Frame N shows frames[N % FRAME_COUNT] with N stamped in the
 * top-left corner (see frame-stamp.h). Before frame N is put, its start time
 * (CLOCK_MONOTONIC, ns) is written to TS_FILE as u64 number N % 65536, so a
 * client that reads N from the pixels can tell how old the frame is.
 * Runs SECONDS seconds (or until SIGTERM), then prints
 * "xshm-player: frames=N late=M" on stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <X11/Xlib.h>
#include <X11/Xutil.h>
#include <X11/extensions/XShm.h>

#include "frame-stamp.h"

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

static void fail(const char *format, const char *detail) {
  fprintf(stderr, "xshm-player: error: ");
  fprintf(stderr, format, detail);
  fputc('\n', stderr);
  exit(2);
}

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void *map_file(const char *path, size_t size, int writable) {
  int fd = open(path, writable ? O_RDWR | O_CREAT : O_RDONLY, 0600);
  if (fd < 0) fail("cannot open %s", path);
  if (writable && ftruncate(fd, (off_t)size) != 0) fail("cannot size %s", path);
  struct stat st;
  if (fstat(fd, &st) != 0 || (size_t)st.st_size < size) fail("%s is shorter than expected", path);
  void *p = mmap(NULL, size, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) fail("cannot map %s", path);
  close(fd);
  return p;
}

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: xshm-player DISPLAY FRAMES_FILE FRAME_COUNT TS_FILE FPS SECONDS\n");
    return 1;
  }
  const long count = atol(argv[3]);
  const double fps = atof(argv[5]);
  const double seconds = atof(argv[6]);
  if (count <= 0 || fps <= 0 || seconds <= 0) fail("bad FRAME_COUNT, FPS or SECONDS%s", "");

  const size_t frame_bytes = (size_t)FRAME_WIDTH * FRAME_HEIGHT * 4;
  const uint8_t *frames = map_file(argv[2], frame_bytes * (size_t)count, 0);
  uint64_t *ts = map_file(argv[4], sizeof(uint64_t) * STAMP_MODULO, 1);
  memset(ts, 0, sizeof(uint64_t) * STAMP_MODULO);

  Display *dpy = XOpenDisplay(argv[1]);
  if (!dpy) fail("cannot open display %s", argv[1]);
  if (!XShmQueryExtension(dpy)) fail("display %s has no MIT-SHM", argv[1]);
  int screen = DefaultScreen(dpy);
  Window root = RootWindow(dpy, screen);
  if (DisplayWidth(dpy, screen) != FRAME_WIDTH || DisplayHeight(dpy, screen) != FRAME_HEIGHT)
    fail("display %s is not 1920x1080", argv[1]);

  XShmSegmentInfo shm = {0};
  XImage *img = XShmCreateImage(dpy, DefaultVisual(dpy, screen), 24, ZPixmap, NULL, &shm,
                                FRAME_WIDTH, FRAME_HEIGHT);
  if (!img) fail("XShmCreateImage failed%s", "");
  if (img->bits_per_pixel != 32 || img->bytes_per_line != FRAME_WIDTH * 4 ||
      img->byte_order != LSBFirst || img->red_mask != 0xff0000 || img->blue_mask != 0xff)
    fail("the display's 24-bit visual is not XRGB8888 little-endian%s", "");
  shm.shmid = shmget(IPC_PRIVATE, frame_bytes, IPC_CREAT | 0600);
  if (shm.shmid < 0) fail("shmget: %s", strerror(errno));
  shm.shmaddr = img->data = shmat(shm.shmid, NULL, 0);
  if (shm.shmaddr == (void *)-1) fail("shmat: %s", strerror(errno));
  shm.readOnly = False;
  if (!XShmAttach(dpy, &shm)) fail("XShmAttach failed%s", "");
  XSync(dpy, False);
  shmctl(shm.shmid, IPC_RMID, NULL); /* freed when both sides detach */
  GC gc = XCreateGC(dpy, root, 0, NULL);

  signal(SIGTERM, on_term);
  signal(SIGINT, on_term);
  const int64_t period = (int64_t)(1e9 / fps);
  const int64_t start = now_ns();
  const int64_t end = start + (int64_t)(seconds * 1e9);
  long shown = 0, late = 0, last = -1;
  while (!stop) {
    int64_t t = now_ns();
    if (t >= end) break;
    long n = (long)((t - start) / period);
    if (n == last) {
      int64_t due = start + (int64_t)(last + 1) * period;
      struct timespec d = {(time_t)(due / 1000000000), (long)(due % 1000000000)};
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &d, NULL);
      continue;
    }
    if (last >= 0 && n > last + 1) late += n - last - 1; /* frames skipped: we fell behind */
    last = n;
    ts[n % STAMP_MODULO] = (uint64_t)t;
    memcpy(img->data, frames + frame_bytes * (size_t)(n % count), frame_bytes);
    stamp_frame((uint32_t *)img->data, FRAME_WIDTH, (uint32_t)n);
    XShmPutImage(dpy, root, gc, img, 0, 0, 0, 0, FRAME_WIDTH, FRAME_HEIGHT, False);
    XSync(dpy, False); /* the server has the pixels before we touch the image again */
    shown++;
  }
  fprintf(stderr, "xshm-player: frames=%ld late=%ld\n", shown, late);
  XShmDetach(dpy, &shm);
  XCloseDisplay(dpy);
  shmdt(shm.shmaddr);
  return 0;
}
