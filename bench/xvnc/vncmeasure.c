/*
 * vncmeasure: the benchmark's measuring client, on libvncclient. Connects,
 * asks for one encoding set, keeps one incremental update request in flight
 * (libvncclient sends the next request as soon as an update is complete),
 * decodes every update, reads the frame number stamped in the pixels (see
 * frame-stamp.h) and measures, over a window after a warm-up:
 *   frames seen per second (distinct frame numbers shown),
 *   change-to-decoded latency (now - the player's timestamp for that frame,
 *   both CLOCK_MONOTONIC), p50 and p95,
 *   bytes received (the RFB stream, counted where libvncclient reads it),
 *   the server's CPU (utime + stime of --cpu-pid from /proc, all threads).
 *
 *   vncmeasure HOST:PORT --encodings "tight" [--quality 0-9] [--compress 0-9]
 *              --ts TS_FILE [--warmup-ms MS] [--measure-ms MS] [--cpu-pid PID]
 *
 * Without --quality, JPEG is off (Tight stays lossless). Prints one JSON line
 * on stdout; on failure one line "vncmeasure: error: ..." on stderr, exit 2.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <rfb/rfbclient.h>

#include "frame-stamp.h"
#include "rfb-tap.h" /* test/clients/: bytes read and rectangles by encoding */

static const char *opt_host;
static int opt_port;
static const char *opt_encodings = "raw";
static int opt_quality = -1, opt_compress = -1;
static const char *opt_ts;
static long opt_warmup_ms = 1000, opt_measure_ms = 5000;
static int opt_cpu_pid;

static void fail(const char *format, ...) {
  va_list args;
  va_start(args, format);
  fputs("vncmeasure: error: ", stderr);
  vfprintf(stderr, format, args);
  fputc('\n', stderr);
  va_end(args);
  exit(2);
}

static char last_log[256];
static void on_log(const char *format, ...) {
  va_list args;
  va_start(args, format);
  vsnprintf(last_log, sizeof last_log, format, args);
  va_end(args);
  last_log[strcspn(last_log, "\n")] = 0;
}

static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "vncmeasure: error: timeout (no complete update from the server)\n";
  ssize_t ignored = write(2, msg, sizeof msg - 1);
  (void)ignored;
  _exit(3);
}

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* ---- server CPU ---- */
static double cpu_seconds(int pid) {
  char path[64], text[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) fail("cannot read %s: %s", path, strerror(errno));
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = 0;
  const char *p = strrchr(text, ')'); /* the command name may hold spaces */
  unsigned long utime = 0, stime = 0;
  if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
    fail("cannot parse %s", path);
  return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* ---- frames ---- */
static const uint64_t *timestamps;
static uint64_t last_shown; /* player timestamp of the newest frame seen */
static int measuring;
static long frames, bad_stamps, updates, window_updates;
static double *latencies;
static size_t n_latencies, cap_latencies;

static int luma_at(void *ctx, int x, int y) {
  rfbClient *c = ctx;
  uint32_t p = ((const uint32_t *)c->frameBuffer)[(size_t)y * c->width + x];
  return (int)(((p >> 16 & 255) * 2 + (p >> 8 & 255) * 5 + (p & 255)) / 8);
}

static void on_update(rfbClient *client) {
  int64_t t = now_ns();
  updates++;
  if (measuring) window_updates++;
  if (client->width < 16 * STAMP_CELL || client->height < 2 * STAMP_CELL) return;
  long n = read_stamp(luma_at, client);
  if (n < 0) { if (measuring) bad_stamps++; return; }
  /* Frames are ordered by the player's timestamps: the player zeroes the file
   * when it starts, so a stale picture from an earlier run (no timestamp) is
   * ignored, and a frame is new only if it became current after the last one. */
  uint64_t shown = timestamps[n];
  if (!shown || shown <= last_shown || (int64_t)shown > t) return;
  last_shown = shown;
  if (!measuring) return;
  frames++;
  if (n_latencies == cap_latencies) {
    cap_latencies = cap_latencies ? cap_latencies * 2 : 1024;
    latencies = realloc(latencies, cap_latencies * sizeof *latencies);
    if (!latencies) fail("out of memory");
  }
  latencies[n_latencies++] = (double)(t - (int64_t)shown) / 1e6;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double percentile(double p) {
  if (!n_latencies) return -1;
  size_t i = (size_t)(p * (double)(n_latencies - 1) + 0.5);
  return latencies[i];
}

/* ---- arguments ---- */
static void bad_arg(const char *msg) { fail("%s", msg); }

static long number(const char *flag, const char *s, long min, long max) {
  return tap_number(flag, s, min, max, bad_arg);
}

static void parse_args(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] != '-') {
      if (opt_host || !tap_host_port(a, &opt_host, &opt_port, bad_arg))
        fail("first argument must be HOST:PORT, got '%s'", a);
      continue;
    }
    if (i + 1 >= argc) fail("%s needs a value", a);
    const char *v = argv[++i];
    if (!strcmp(a, "--encodings")) opt_encodings = v;
    else if (!strcmp(a, "--quality")) opt_quality = (int)number(a, v, 0, 9);
    else if (!strcmp(a, "--compress")) opt_compress = (int)number(a, v, 0, 9);
    else if (!strcmp(a, "--ts")) opt_ts = v;
    else if (!strcmp(a, "--warmup-ms")) opt_warmup_ms = number(a, v, 0, 600000);
    else if (!strcmp(a, "--measure-ms")) opt_measure_ms = number(a, v, 1, 600000);
    else if (!strcmp(a, "--cpu-pid")) opt_cpu_pid = (int)number(a, v, 1, 1 << 30);
    else fail("unknown option %s", a);
  }
  if (!opt_host) fail("need HOST:PORT");
  if (!opt_ts) fail("need --ts TS_FILE");
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  int fd = open(opt_ts, O_RDONLY);
  if (fd < 0) fail("cannot open %s: %s", opt_ts, strerror(errno));
  timestamps = mmap(NULL, sizeof(uint64_t) * STAMP_MODULO, PROT_READ, MAP_SHARED, fd, 0);
  if (timestamps == MAP_FAILED) fail("cannot map %s: %s", opt_ts, strerror(errno));
  close(fd);

  rfbClientLog = on_log;
  rfbClientErr = on_log;
  signal(SIGALRM, on_alarm);
  alarm((unsigned)((opt_warmup_ms + opt_measure_ms) / 1000 + 30));

  rfbClient *client = rfbGetClient(8, 3, 4);
  /* The servers' own layout (XRGB little-endian): neither has to translate. */
  client->format.redShift = 16;
  client->format.greenShift = 8;
  client->format.blueShift = 0;
  client->appData.encodingsString = opt_encodings;
  client->appData.useRemoteCursor = FALSE;
  client->appData.enableJPEG = opt_quality >= 0;
  client->appData.qualityLevel = opt_quality >= 0 ? opt_quality : 0;
  if (opt_compress >= 0) client->appData.compressLevel = opt_compress;
  client->FinishedFrameBufferUpdate = on_update;
  client->serverHost = strdup(opt_host);
  client->serverPort = opt_port;
  if (!rfbInitClient(client, NULL, NULL)) fail("cannot connect to %s:%d: %s", opt_host, opt_port, last_log);

  /* Warm-up: the first complete picture, then opt_warmup_ms more. */
  int64_t warm_end = -1, window_start = 0, window_end = 0;
  double cpu0 = 0;
  uint64_t bytes0 = 0;
  for (;;) {
    int64_t t = now_ns();
    if (!measuring && updates > 0 && warm_end < 0) warm_end = t + opt_warmup_ms * 1000000;
    if (!measuring && warm_end >= 0 && t >= warm_end) {
      alarm((unsigned)(opt_measure_ms / 1000 + 30));
      measuring = 1;
      tap_on_header = tap_count_encoding; /* rectangles are counted inside the window only */
      window_start = t;
      bytes0 = tap_bytes_read;
      if (opt_cpu_pid) cpu0 = cpu_seconds(opt_cpu_pid);
    }
    if (measuring && t >= window_start + opt_measure_ms * 1000000) { window_end = t; break; }
    int r = WaitForMessage(client, 20000);
    if (r < 0) fail("connection lost: %s", last_log);
    if (r > 0) {
      if (!tap_handle_message(client)) fail("connection lost: %s", last_log);
    }
  }
  double cpu = opt_cpu_pid ? cpu_seconds(opt_cpu_pid) - cpu0 : -1;
  double seconds = (double)(window_end - window_start) / 1e9;
  uint64_t bytes = tap_bytes_read - bytes0;
  qsort(latencies, n_latencies, sizeof *latencies, by_value);

  char name[16];
  printf("{\"seconds\":%.3f,\"frames\":%ld,\"updates\":%ld,\"badStamps\":%ld,\"fps\":%.2f,"
         "\"p50Ms\":%.1f,\"p95Ms\":%.1f,\"bytes\":%llu,\"cpuPercent\":%.1f,\"rects\":{",
         seconds, frames, window_updates, bad_stamps, frames / seconds, percentile(0.5), percentile(0.95),
         (unsigned long long)bytes, cpu < 0 ? -1 : 100 * cpu / seconds);
  for (int i = 0; i < TAP_MAX_SEEN && tap_seen[i].count; i++)
    printf("%s\"%s\":%ld", i ? "," : "", tap_encoding_name(tap_seen[i].encoding, name, sizeof name), tap_seen[i].count);
  printf("}}\n");
  rfbClientCleanup(client);
  return 0;
}
