/*
 * vncinput: a libvncclient client driven line by line, for input, cursor and resize tests.
 *
 *   vncinput HOST:PORT [--encodings "raw ..."] [--cursor] [--timeout-ms MS]
 *
 * --cursor announces the Cursor pseudo-encoding (libvncclient's useRemoteCursor: RichCursor and
 * XCursor); without it the server must draw the cursor into the picture.
 *
 * Commands on stdin (one per line), each answered "ok CMD" on stdout once done:
 *   key KEYSYM 1|0              KeyEvent (numbers: decimal or 0x hex)
 *   xkey KEYSYM SCANCODE 1|0    QEMU extended key event ("error ..." if the server has not offered it)
 *   ptr X Y MASK                PointerEvent
 *   resize W H                  SetDesktopSize (one screen)
 *   dump PATH                   write the framebuffer as binary PPM (RGB888)
 *   quit
 * Events on stdout:
 *   name NAME                   the desktop name from ServerInit
 *   ready WxH                   the first whole picture arrived
 *   size WxH                    the framebuffer size changed
 *   cursor HX HY WxH PIXELS MASK   a cursor shape: PIXELS = RRGGBB hex per pixel, MASK = 0/1 per pixel
 *   extdesktop REASON STATUS WxH   an ExtendedDesktopSize rectangle's header
 *   qemukey                     the server offered the QEMU extended key event
 * Errors: "error ..." on stdout; connection loss exits 2, timeout (no stdin activity) exits 3.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rfb/rfbclient.h>

#include "rfb-tap.h"

static long opt_timeout_ms = 60000;

/* ---- rectangle headers seen (rfb-tap.h) ---- */
static void saw_header(const unsigned char *h) {
  struct tap_rect r = tap_parse_header(h);
  if (r.encoding == -308) printf("extdesktop %u %u %ux%u\n", r.x, r.y, r.w, r.h);
  if (r.encoding == -258) printf("qemukey\n");
  fflush(stdout);
}

/* ---- framebuffer ---- */
static int announced;

static rfbBool on_resize(rfbClient *client) {
  size_t pixels = (size_t)client->width * client->height;
  free(client->frameBuffer);
  client->frameBuffer = calloc(pixels ? pixels * 4 : 1, 1);
  tap_coverage_reset(pixels);
  if (announced) printf("size %dx%d\n", client->width, client->height);
  fflush(stdout);
  return TRUE;
}

static unsigned rgb_of(rfbClient *client, const unsigned char *p) {
  const rfbPixelFormat *f = &client->format;
  uint32_t v = p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
  return ((v >> f->redShift) & 0xff) << 16 | ((v >> f->greenShift) & 0xff) << 8 | ((v >> f->blueShift) & 0xff);
}

static void on_cursor(rfbClient *client, int xhot, int yhot, int width, int height, int bpp) {
  if (bpp != 4) { printf("error cursor with %d bytes per pixel\n", bpp); fflush(stdout); return; }
  printf("cursor %d %d %dx%d ", xhot, yhot, width, height);
  for (int i = 0; i < width * height; i++) printf("%06x", rgb_of(client, client->rcSource + 4 * i));
  putchar(' ');
  for (int i = 0; i < width * height; i++) putchar(client->rcMask[i] ? '1' : '0');
  putchar('\n');
  fflush(stdout);
}

static void dump(rfbClient *client, const char *path) {
  FILE *out = fopen(path, "wb");
  if (!out) { printf("error cannot write %s: %s\n", path, strerror(errno)); return; }
  fprintf(out, "P6\n%d %d\n255\n", client->width, client->height);
  for (long k = 0; k < (long)client->width * client->height; k++) {
    unsigned v = rgb_of(client, (unsigned char *)client->frameBuffer + 4 * k);
    unsigned char rgb[3] = {(unsigned char)(v >> 16), (unsigned char)(v >> 8), (unsigned char)v};
    fwrite(rgb, 1, 3, out);
  }
  fclose(out);
}

static void quiet(const char *format, ...) { (void)format; }

static void to_stderr(const char *format, ...) {
  va_list args;
  va_start(args, format);
  vfprintf(stderr, format, args);
  va_end(args);
}

static unsigned long num(const char *s) { return strtoul(s, NULL, 0); }

/* One command line; returns 0 on quit. */
static int command(rfbClient *client, char *line) {
  char *argv[8];
  int argc = 0;
  for (char *t = strtok(line, " \t\r\n"); t && argc < 8; t = strtok(NULL, " \t\r\n")) argv[argc++] = t;
  if (argc == 0) return 1;
  rfbBool ok = TRUE;
  if (!strcmp(argv[0], "quit")) return 0;
  else if (!strcmp(argv[0], "key") && argc == 3) ok = SendKeyEvent(client, (uint32_t)num(argv[1]), num(argv[2]) != 0);
  else if (!strcmp(argv[0], "xkey") && argc == 4) ok = SendExtendedKeyEvent(client, (uint32_t)num(argv[1]), (uint32_t)num(argv[2]), num(argv[3]) != 0);
  else if (!strcmp(argv[0], "ptr") && argc == 4) ok = SendPointerEvent(client, (int)num(argv[1]), (int)num(argv[2]), (int)num(argv[3]));
  else if (!strcmp(argv[0], "resize") && argc == 3) ok = SendExtDesktopSize(client, (uint16_t)num(argv[1]), (uint16_t)num(argv[2]));
  else if (!strcmp(argv[0], "dump") && argc == 2) dump(client, argv[1]);
  else { printf("error unknown command %s\n", argv[0]); fflush(stdout); return 1; }
  if (ok) printf("ok %s\n", argv[0]);
  else printf("error %s refused by libvncclient (not offered by the server?)\n", argv[0]);
  fflush(stdout);
  return 1;
}

int main(int argc, char **argv) {
  const char *encodings = "raw";
  int cursor = 0;
  if (argc < 2) { fprintf(stderr, "usage: vncinput HOST:PORT [--encodings E] [--cursor] [--timeout-ms MS]\n"); return 1; }
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--cursor")) cursor = 1;
    else if (!strcmp(argv[i], "--encodings") && i + 1 < argc) encodings = argv[++i];
    else if (!strcmp(argv[i], "--timeout-ms") && i + 1 < argc) opt_timeout_ms = atol(argv[++i]);
    else { fprintf(stderr, "vncinput: unknown option %s\n", argv[i]); return 1; }
  }
  char host[256];
  const char *colon = strrchr(argv[1], ':');
  if (!colon || colon - argv[1] >= (long)sizeof host) { fprintf(stderr, "vncinput: want HOST:PORT\n"); return 1; }
  memcpy(host, argv[1], colon - argv[1]);
  host[colon - argv[1]] = 0;

  rfbClientLog = quiet;
  rfbClientErr = to_stderr;
  rfbClient *client = rfbGetClient(8, 3, 4);
  tap_on_header = saw_header;
  client->MallocFrameBuffer = on_resize;
  client->GotFrameBufferUpdate = tap_cover;
  client->GotCursorShape = on_cursor;
  client->canHandleNewFBSize = TRUE;
  client->appData.encodingsString = encodings;
  client->appData.useRemoteCursor = cursor ? TRUE : FALSE;
  client->serverHost = strdup(host);
  client->serverPort = atoi(colon + 1);
  if (!rfbInitClient(client, NULL, NULL)) { printf("error cannot connect\n"); return 2; }
  printf("name %s\n", client->desktopName ? client->desktopName : "");
  fflush(stdout);

  long idle = 0;
  char buf[4096];
  size_t have = 0;
  for (;;) {
    int n = WaitForMessage(client, 20000);
    if (n < 0) { printf("error connection lost\n"); return 2; }
    if (n > 0 && !tap_handle_message(client)) { printf("error connection lost\n"); return 2; }
    if (!announced && tap_uncovered == 0) {
      announced = 1;
      printf("ready %dx%d\n", client->width, client->height);
      fflush(stdout);
    }
    struct pollfd p = {0, POLLIN, 0};
    if (poll(&p, 1, 0) > 0) {
      ssize_t r = read(0, buf + have, sizeof buf - 1 - have);
      if (r <= 0) return 0; /* stdin closed: done */
      have += (size_t)r;
      buf[have] = 0;
      char *nl;
      while ((nl = strchr(buf, '\n'))) {
        *nl = 0;
        if (!command(client, buf)) return 0;
        have -= (size_t)(nl + 1 - buf);
        memmove(buf, nl + 1, have + 1);
      }
      idle = 0;
    } else if (n == 0 && (idle += 20) > opt_timeout_ms) {
      printf("error timeout\n");
      return 3;
    }
  }
}
