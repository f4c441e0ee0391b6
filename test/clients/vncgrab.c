/*
 * vncgrab: a small libvncclient client for tests. Connects to an RFB server,
 * asks for the given encodings and pixel format, receives updates until a
 * condition holds, and writes the framebuffer as binary PPM (P6, RGB888).
 *
 *   vncgrab HOST:PORT OUT.ppm [--encodings "zrle hextile ..."] [--bpp 32|16|8]
 *           [--big-endian] [--no-jpeg] [--password-env VAR] [--updates N | --until-ms MS]
 *           [--settle-ms MS] [--expect-size WxH] [--until-pixel X,Y,RRGGBB]...
 *           [--timeout-ms MS] [--verbose]
 *
 * --no-jpeg: no JPEG quality level in SetEncodings (libvncclient sends level 5 by default),
 * so a Tight server stays lossless (and may use the gradient filter).
 *
 * Stop conditions (whichever is given; default is "settled"):
 *   settled      every pixel has been covered by some rectangle since the last
 *                size change, and then no update changed a pixel for
 *                --settle-ms (default 200) ms;
 *   --updates N  N FramebufferUpdate messages received, picture complete;
 *   --until-ms   receive for MS ms after connecting, then write (the picture
 *                must be complete by then).
 *   --until-pixel X,Y,RRGGBB (up to 8 times): the picture is complete and
 *                each named pixel shows that colour (proves that a change
 *                made while connected reached the client).
 * --expect-size WxH additionally waits until the framebuffer has that size
 * (proves DesktopSize reached the client). Default timeout: 10 s.
 *
 * Pixel formats (the client's, the server must translate to them):
 *   32: depth 24, red shift 0, green 8, blue 16 (libvncclient's default; not
 *       the byte order most servers use natively, so translation is exercised)
 *   16: RGB565 (red shift 11, green 5, blue 0)
 *    8: BGR233 (red shift 0 max 7, green shift 3 max 7, blue shift 6 max 3)
 * Components are widened to 8 bits as round(v * 255 / max).
 *
 * On success prints one line to stderr:
 *   vncgrab: size=WxH updates=N rects=zrle:3,desktopsize:1
 * (rects counts the rectangle headers received, by encoding). On failure
 * prints one line "vncgrab: error: ..." and exits with 2 (connection,
 * authentication or protocol error), 3 (timeout) or 1 (usage).
 *
 * Known libvncclient 0.9.14 limits (also seen against TigerVNC's Xvnc):
 * with --big-endian at 32 bpp its ZRLE and Tight decoders mis-place the
 * colour bytes; use raw or hextile to test big-endian translation.
 *
 * The rectangle encodings are not exposed by libvncclient; rfb-tap.h sees them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <rfb/rfbclient.h>

#include "rfb-tap.h"

enum { EXIT_USAGE = 1, EXIT_FAIL = 2, EXIT_TIMEOUT = 3 };

/* ---- options ---- */
static const char *opt_host;
static int opt_port;
static const char *opt_out;
static const char *opt_encodings = "raw";
static int opt_bpp = 32;
static int opt_big_endian;
static int opt_no_jpeg;
static const char *opt_password_env;
static long opt_updates = -1;
static long opt_until_ms = -1;
static long opt_settle_ms = 200;
static long opt_timeout_ms = 10000;
static int opt_expect_w = -1, opt_expect_h = -1;
static int opt_verbose;
#define MAX_PIXELS 8
static struct { int x, y; unsigned rgb; } opt_pixels[MAX_PIXELS];
static int opt_npixels;

/* ---- errors: libvncclient reports through its log hooks; keep the last
 * lines so a failure can say why in one line. ---- */
static char last_log[2][256];

static void keep_log(const char *format, va_list args) {
  char line[256];
  vsnprintf(line, sizeof line, format, args);
  line[strcspn(line, "\n")] = 0;
  if (!line[0]) return;
  memcpy(last_log[0], last_log[1], sizeof last_log[0]);
  memcpy(last_log[1], line, sizeof last_log[1]);
  if (opt_verbose) fprintf(stderr, "libvncclient: %s\n", line);
}

static void on_log(const char *format, ...) {
  va_list args;
  va_start(args, format);
  keep_log(format, args);
  va_end(args);
}

static const char *why(void) {
  static char buf[600];
  if (last_log[0][0])
    snprintf(buf, sizeof buf, "%s; %s", last_log[0], last_log[1]);
  else
    snprintf(buf, sizeof buf, "%s", last_log[1][0] ? last_log[1] : "no detail");
  return buf;
}

/* libvncclient's non-blocking connect loses the reason (refused, no route);
 * after a failed connect, one plain connect() finds it again. */
static const char *connect_problem(const char *host, int port) {
  char service[16];
  struct addrinfo hints = {0}, *list;
  hints.ai_socktype = SOCK_STREAM;
  snprintf(service, sizeof service, "%d", port);
  int rc = getaddrinfo(host, service, &hints, &list);
  if (rc) return gai_strerror(rc);
  int err = 0;
  for (struct addrinfo *a = list; a; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) { err = errno; continue; }
    rc = connect(fd, a->ai_addr, a->ai_addrlen);
    err = rc ? errno : 0;
    close(fd);
    if (!rc) break;
  }
  freeaddrinfo(list);
  return err ? strerror(err) : NULL;
}

static void fail(int code, const char *format, ...) {
  va_list args;
  va_start(args, format);
  fputs("vncgrab: error: ", stderr);
  vfprintf(stderr, format, args);
  fputc('\n', stderr);
  va_end(args);
  exit(code);
}

/* The library can block inside the handshake; a timer is the backstop.
 * `phase` is kept short and static so the handler only calls write(). */
static char phase[200] = "connecting";

static void on_alarm(int sig) {
  (void)sig;
  static const char head[] = "vncgrab: error: timeout while ";
  ssize_t ignored = write(2, head, sizeof head - 1);
  ignored = write(2, phase, strlen(phase));
  ignored = write(2, "\n", 1);
  (void)ignored;
  _exit(EXIT_TIMEOUT);
}

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* ---- framebuffer state ---- */
static long updates;           /* FramebufferUpdate messages completed */
static long last_change_ms;    /* when an update last changed a pixel */
static unsigned char *previous; /* framebuffer after the previous update */

static rfbBool on_resize(rfbClient *client) {
  size_t pixels = (size_t)client->width * client->height;
  size_t bytes = pixels * (client->format.bitsPerPixel / 8);
  free(client->frameBuffer);
  free(previous);
  client->frameBuffer = calloc(bytes ? bytes : 1, 1);
  previous = calloc(bytes ? bytes : 1, 1);
  if (!tap_coverage_reset(pixels) || !client->frameBuffer || !previous) fail(EXIT_FAIL, "out of memory");
  last_change_ms = now_ms();
  return TRUE;
}

static void on_update_done(rfbClient *client) {
  size_t bytes = (size_t)client->width * client->height * (client->format.bitsPerPixel / 8);
  updates++;
  if (memcmp(previous, client->frameBuffer, bytes) != 0) {
    memcpy(previous, client->frameBuffer, bytes);
    last_change_ms = now_ms();
  }
}

static char *get_password(rfbClient *client) {
  (void)client;
  const char *p = opt_password_env ? getenv(opt_password_env) : NULL;
  if (!p) {
    on_log("server requires a password but none was given (--password-env VAR)");
    return NULL;
  }
  return strdup(p);
}

/* ---- output ---- */
static unsigned widen(uint32_t v, unsigned max) {
  return max ? (unsigned)((v * 255u + max / 2) / max) : 0;
}

/* Pixel k of the framebuffer as 0xRRGGBB. */
static unsigned rgb_at(rfbClient *client, size_t k) {
  const rfbPixelFormat *f = &client->format;
  int bpp = f->bitsPerPixel / 8;
  const unsigned char *p = (const unsigned char *)client->frameBuffer + k * bpp;
  uint32_t v = 0;
  for (int b = 0; b < bpp; b++)
    v |= (uint32_t)p[f->bigEndian ? bpp - 1 - b : b] << (8 * b);
  return widen((v >> f->redShift) & f->redMax, f->redMax) << 16 |
         widen((v >> f->greenShift) & f->greenMax, f->greenMax) << 8 |
         widen((v >> f->blueShift) & f->blueMax, f->blueMax);
}

/* Index of the first --until-pixel not showing its colour, or -1. */
static int pixel_waiting(rfbClient *client) {
  for (int i = 0; i < opt_npixels; i++) {
    if (opt_pixels[i].x >= client->width || opt_pixels[i].y >= client->height) return i;
    if (rgb_at(client, (size_t)opt_pixels[i].y * client->width + opt_pixels[i].x) != opt_pixels[i].rgb) return i;
  }
  return -1;
}

static void write_ppm(rfbClient *client) {
  FILE *out = fopen(opt_out, "wb");
  if (!out) fail(EXIT_FAIL, "cannot write %s: %s", opt_out, strerror(errno));
  fprintf(out, "P6\n%d %d\n255\n", client->width, client->height);
  size_t pixels = (size_t)client->width * client->height;
  for (size_t k = 0; k < pixels; k++) {
    unsigned v = rgb_at(client, k);
    unsigned char rgb[3] = {(unsigned char)(v >> 16), (unsigned char)(v >> 8), (unsigned char)v};
    fwrite(rgb, 1, 3, out);
  }
  if (fclose(out) != 0) fail(EXIT_FAIL, "cannot write %s: %s", opt_out, strerror(errno));
}

static void print_summary(rfbClient *client) {
  char line[1024], name[16];
  int len = snprintf(line, sizeof line, "vncgrab: size=%dx%d updates=%ld rects=",
                     client->width, client->height, updates);
  for (int i = 0; i < TAP_MAX_SEEN && tap_seen[i].count && len < (int)sizeof line - 40; i++)
    len += snprintf(line + len, sizeof line - len, "%s%s:%ld", i ? "," : "",
                    tap_encoding_name(tap_seen[i].encoding, name, sizeof name), tap_seen[i].count);
  fprintf(stderr, "%s\n", line);
}

/* ---- arguments ---- */
static void usage(const char *msg) {
  fprintf(stderr,
          "vncgrab: error: %s\n"
          "usage: vncgrab HOST:PORT OUT.ppm [--encodings \"zrle hextile ...\"] [--bpp 32|16|8]\n"
          "       [--big-endian] [--no-jpeg] [--password-env VAR] [--updates N | --until-ms MS]\n"
          "       [--settle-ms MS] [--expect-size WxH] [--until-pixel X,Y,RRGGBB]...\n"
          "       [--timeout-ms MS] [--verbose]\n",
          msg);
  exit(EXIT_USAGE);
}

static long number(const char *flag, const char *s, long min, long max) {
  return tap_number(flag, s, min, max, usage);
}

static void parse_args(int argc, char **argv) {
  int positional = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] == '-' && a[1] == '-') {
      if (!strcmp(a, "--big-endian")) { opt_big_endian = 1; continue; }
      if (!strcmp(a, "--no-jpeg")) { opt_no_jpeg = 1; continue; }
      if (!strcmp(a, "--verbose")) { opt_verbose = 1; continue; }
      if (i + 1 >= argc) { char m[80]; snprintf(m, sizeof m, "%s needs a value", a); usage(m); }
      const char *v = argv[++i];
      if (!strcmp(a, "--encodings")) opt_encodings = v;
      else if (!strcmp(a, "--bpp")) {
        opt_bpp = (int)number(a, v, 8, 32);
        if (opt_bpp != 8 && opt_bpp != 16 && opt_bpp != 32) usage("--bpp must be 32, 16 or 8");
      }
      else if (!strcmp(a, "--password-env")) opt_password_env = v;
      else if (!strcmp(a, "--updates")) opt_updates = number(a, v, 1, 1000000);
      else if (!strcmp(a, "--until-ms")) opt_until_ms = number(a, v, 0, 3600000);
      else if (!strcmp(a, "--settle-ms")) opt_settle_ms = number(a, v, 0, 3600000);
      else if (!strcmp(a, "--timeout-ms")) opt_timeout_ms = number(a, v, 1, 3600000);
      else if (!strcmp(a, "--expect-size")) {
        if (sscanf(v, "%dx%d", &opt_expect_w, &opt_expect_h) != 2 || opt_expect_w <= 0 || opt_expect_h <= 0)
          usage("--expect-size wants WxH, e.g. 640x480");
      }
      else if (!strcmp(a, "--until-pixel")) {
        int x, y, n = 0;
        unsigned rgb;
        if (opt_npixels == MAX_PIXELS) usage("at most 8 --until-pixel");
        if (sscanf(v, "%d,%d,%6x%n", &x, &y, &rgb, &n) != 3 || v[n] || n < 5 || x < 0 || y < 0)
          usage("--until-pixel wants X,Y,RRGGBB, e.g. 10,20,336699");
        opt_pixels[opt_npixels].x = x;
        opt_pixels[opt_npixels].y = y;
        opt_pixels[opt_npixels].rgb = rgb;
        opt_npixels++;
      }
      else { char m[80]; snprintf(m, sizeof m, "unknown option %s", a); usage(m); }
    } else if (positional == 0) {
      if (!tap_host_port(a, &opt_host, &opt_port, usage)) usage("first argument must be HOST:PORT");
      positional++;
    } else if (positional == 1) {
      opt_out = a;
      positional++;
    } else {
      usage("too many arguments");
    }
  }
  if (positional != 2) usage("need HOST:PORT and OUT.ppm");
  if ((opt_updates >= 0) + (opt_until_ms >= 0) + (opt_npixels > 0) > 1)
    usage("--updates, --until-ms and --until-pixel exclude each other");
}

static void set_pixel_format(rfbClient *client) {
  rfbPixelFormat *f = &client->format;
  f->bigEndian = opt_big_endian ? TRUE : FALSE;
  f->trueColour = TRUE;
  if (opt_bpp == 16) {
    f->bitsPerPixel = 16; f->depth = 16;
    f->redMax = 31; f->greenMax = 63; f->blueMax = 31;
    f->redShift = 11; f->greenShift = 5; f->blueShift = 0;
  } else if (opt_bpp == 8) {
    f->bitsPerPixel = 8; f->depth = 8;
    f->redMax = 7; f->greenMax = 7; f->blueMax = 3;
    f->redShift = 0; f->greenShift = 3; f->blueShift = 6;
  } else {
    f->bitsPerPixel = 32; f->depth = 24;
    f->redMax = 255; f->greenMax = 255; f->blueMax = 255;
    f->redShift = 0; f->greenShift = 8; f->blueShift = 16;
  }
}

static int size_ok(rfbClient *client) {
  return opt_expect_w < 0 || (client->width == opt_expect_w && client->height == opt_expect_h);
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  rfbClientLog = on_log;
  rfbClientErr = on_log;

  signal(SIGALRM, on_alarm);
  signal(SIGPIPE, SIG_IGN);
  /* The main loop reports its own timeout; the timer fires a second later. */
  long backstop_ms = opt_timeout_ms + 1000;
  struct itimerval timer = {{0, 0}, {backstop_ms / 1000, (backstop_ms % 1000) * 1000}};
  setitimer(ITIMER_REAL, &timer, NULL);
  long start = now_ms();
  long deadline = start + opt_timeout_ms;

  rfbClient *client = rfbGetClient(8, 3, opt_bpp / 8);
  if (!client) fail(EXIT_FAIL, "out of memory");
  set_pixel_format(client);
  client->appData.encodingsString = opt_encodings;
  client->appData.useRemoteCursor = FALSE;
  if (opt_no_jpeg) client->appData.enableJPEG = FALSE;
  client->canHandleNewFBSize = TRUE;
  client->serverHost = strdup(opt_host);
  client->serverPort = opt_port;
  client->MallocFrameBuffer = on_resize;
  client->GotFrameBufferUpdate = tap_cover;
  tap_on_header = tap_count_encoding;
  client->FinishedFrameBufferUpdate = on_update_done;
  client->GetPassword = get_password;

  snprintf(phase, sizeof phase, "connecting to %s:%d", opt_host, opt_port);
  /* rfbInitClient frees the client when it fails. */
  if (!rfbInitClient(client, NULL, NULL)) {
    const char *problem = strstr(why(), "Unable to connect") ? connect_problem(opt_host, opt_port) : NULL;
    fail(EXIT_FAIL, "cannot connect to %s:%d: %s", opt_host, opt_port, problem ? problem : why());
  }

  for (;;) {
    long now = now_ms();
    int complete = tap_uncovered == 0 && size_ok(client);
    int done;
    if (opt_npixels) done = complete && pixel_waiting(client) < 0;
    else if (opt_updates >= 0) done = complete && updates >= opt_updates;
    else if (opt_until_ms >= 0) done = now - start >= opt_until_ms;
    else done = complete && updates > 0 && now - last_change_ms >= opt_settle_ms;
    if (done) {
      if (!complete) {
        if (!size_ok(client))
          fail(EXIT_FAIL, "after %ld ms the framebuffer is %dx%d, expected %dx%d", opt_until_ms,
               client->width, client->height, opt_expect_w, opt_expect_h);
        fail(EXIT_FAIL, "after %ld ms %ld of %ld pixels were never sent", opt_until_ms, tap_uncovered,
             (long)client->width * client->height);
      }
      break;
    }
    if (now >= deadline) {
      if (!size_ok(client))
        fail(EXIT_TIMEOUT, "timeout after %ld ms: framebuffer is %dx%d, expected %dx%d", opt_timeout_ms,
             client->width, client->height, opt_expect_w, opt_expect_h);
      int waiting = pixel_waiting(client);
      if (!tap_uncovered && waiting >= 0) {
        int x = opt_pixels[waiting].x, y = opt_pixels[waiting].y;
        if (x >= client->width || y >= client->height)
          fail(EXIT_TIMEOUT, "timeout after %ld ms: pixel (%d,%d) is outside the %dx%d framebuffer",
               opt_timeout_ms, x, y, client->width, client->height);
        fail(EXIT_TIMEOUT, "timeout after %ld ms: pixel (%d,%d) is #%06x, waiting for #%06x", opt_timeout_ms,
             x, y, rgb_at(client, (size_t)y * client->width + x), opt_pixels[waiting].rgb);
      }
      if (tap_uncovered)
        fail(EXIT_TIMEOUT, "timeout after %ld ms: %ld of %ld pixels never sent (%ld updates)",
             opt_timeout_ms, tap_uncovered, (long)client->width * client->height, updates);
      fail(EXIT_TIMEOUT, "timeout after %ld ms: %ld updates received, picture never settled",
           opt_timeout_ms, updates);
    }
    snprintf(phase, sizeof phase, "receiving updates (%ld so far, size %dx%d)", updates,
             client->width, client->height);
    long wait = deadline - now < 20 ? deadline - now : 20;
    /* libvncclient's WaitForMessage ignores bytes it has already buffered. */
    int ready = client->buffered > 0 ? 1 : WaitForMessage(client, (unsigned)wait * 1000);
    if (ready < 0) fail(EXIT_FAIL, "connection lost: %s", why());
    if (ready > 0) {
      if (!tap_handle_message(client)) fail(EXIT_FAIL, "connection closed or protocol error: %s", why());
    }
  }

  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  write_ppm(client);
  print_summary(client);
  close(client->sock);
  return 0;
}
