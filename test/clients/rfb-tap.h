/*
 * rfb-tap.h: what the libvncclient clients (test/clients/vncgrab.c, vncinput.c,
 * bench/xvnc/vncmeasure.c) share: seeing the RFB stream libvncclient hides,
 * tracking which pixels rectangles have covered, and parsing their arguments.
 * Header-only (each client is one C file); include it after <rfb/rfbclient.h>
 * with _GNU_SOURCE defined (RTLD_NEXT).
 *
 * The stream: libvncclient exposes neither the rectangle encodings nor the bytes
 * it reads, so this header interposes ReadFromRFBServer (libvncclient calls it
 * through the PLT), counts the bytes, and recognises rectangle headers by where
 * the library reads them to. Read messages through tap_handle_message() so the
 * tap knows where a message starts.
 */
#ifndef RFB_TAP_H
#define RFB_TAP_H

#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rfb/rfbclient.h>

/* ---- the stream, via ReadFromRFBServer interposition ---- */
typedef rfbBool (*tap_read_fn)(rfbClient *, char *, unsigned int);
static tap_read_fn tap_real_read;
static uint64_t tap_bytes_read; /* every byte libvncclient read from the server */

/* Called with each 12-byte rectangle header of a FramebufferUpdate (NULL: none). */
static void (*tap_on_header)(const unsigned char *hdr);

enum { TAP_AT_MESSAGE, TAP_AFTER_UPDATE_TYPE, TAP_FIRST_HEADER, TAP_IN_UPDATE, TAP_OTHER };
static int tap_state = TAP_OTHER;
static char *tap_header_addr; /* where HandleRFBServerMessage reads rect headers */

static inline void tap_header(char *out) {
  if (tap_on_header) tap_on_header((const unsigned char *)out);
}

rfbBool ReadFromRFBServer(rfbClient *client, char *out, unsigned int n) {
  if (!tap_real_read) tap_real_read = (tap_read_fn)dlsym(RTLD_NEXT, "ReadFromRFBServer");
  rfbBool ok = tap_real_read(client, out, n);
  if (!ok) return ok;
  tap_bytes_read += n;
  switch (tap_state) {
    case TAP_AT_MESSAGE:
      tap_state = (n == 1 && out[0] == rfbFramebufferUpdate) ? TAP_AFTER_UPDATE_TYPE : TAP_OTHER;
      break;
    case TAP_AFTER_UPDATE_TYPE:
      tap_state = (n == sz_rfbFramebufferUpdateMsg - 1) ? TAP_FIRST_HEADER : TAP_OTHER;
      break;
    case TAP_FIRST_HEADER:
      if (n == sz_rfbFramebufferUpdateRectHeader) {
        tap_header_addr = out;
        tap_header(out);
        tap_state = TAP_IN_UPDATE;
      } else {
        tap_state = TAP_OTHER;
      }
      break;
    case TAP_IN_UPDATE:
      if (n == sz_rfbFramebufferUpdateRectHeader && out == tap_header_addr) tap_header(out);
      break;
    default:
      break;
  }
  return ok;
}

/* HandleRFBServerMessage with the tap told that a message starts here. */
static inline rfbBool tap_handle_message(rfbClient *client) {
  tap_state = TAP_AT_MESSAGE;
  rfbBool ok = HandleRFBServerMessage(client);
  tap_state = TAP_OTHER;
  return ok;
}

struct tap_rect { unsigned x, y, w, h; int32_t encoding; };

static inline struct tap_rect tap_parse_header(const unsigned char *h) {
  struct tap_rect r;
  r.x = (unsigned)(h[0] << 8 | h[1]);
  r.y = (unsigned)(h[2] << 8 | h[3]);
  r.w = (unsigned)(h[4] << 8 | h[5]);
  r.h = (unsigned)(h[6] << 8 | h[7]);
  r.encoding = (int32_t)((uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 | (uint32_t)h[10] << 8 | h[11]);
  return r;
}

/* ---- rectangles counted by encoding (set tap_on_header = tap_count_encoding) ---- */
#define TAP_MAX_SEEN 32
static struct { int32_t encoding; long count; } tap_seen[TAP_MAX_SEEN];

static inline void tap_count_encoding(const unsigned char *hdr) {
  int32_t enc = tap_parse_header(hdr).encoding;
  for (int i = 0; i < TAP_MAX_SEEN; i++) {
    if (tap_seen[i].count && tap_seen[i].encoding == enc) { tap_seen[i].count++; return; }
    if (!tap_seen[i].count) { tap_seen[i].encoding = enc; tap_seen[i].count = 1; return; }
  }
}

static inline const char *tap_encoding_name(int32_t e, char *buf, size_t len) {
  switch (e) {
    case 0: return "raw";
    case 1: return "copyrect";
    case 2: return "rre";
    case 4: return "corre";
    case 5: return "hextile";
    case 6: return "zlib";
    case 7: return "tight";
    case 8: return "zlibhex";
    case 15: return "trle";
    case 16: return "zrle";
    case -223: return "desktopsize";
    case -224: return "lastrect";
    case -232: return "pointerpos";
    case -239: return "cursor";
    case -240: return "xcursor";
    case -258: return "qemukeyevent";
    case -307: return "desktopname";
    case -308: return "extendeddesktopsize";
    case -312: return "fence";
    case -313: return "continuousupdates";
  }
  snprintf(buf, len, "%d", (int)e);
  return buf;
}

/* ---- pixels covered by some rectangle since the last size change ---- */
static unsigned char *tap_covered; /* one byte per pixel */
static long tap_uncovered;         /* pixels not yet covered at this size */

/* For MallocFrameBuffer: a new size, nothing covered. Returns 0 when out of memory. */
static inline int tap_coverage_reset(size_t pixels) {
  free(tap_covered);
  tap_covered = calloc(pixels ? pixels : 1, 1);
  tap_uncovered = (long)pixels;
  return tap_covered != NULL;
}

/* For GotFrameBufferUpdate. */
static inline void tap_cover(rfbClient *client, int x, int y, int w, int h) {
  for (int j = y; j < y + h && j < client->height; j++)
    for (int i = x; i < x + w && i < client->width; i++) {
      unsigned char *c = &tap_covered[(size_t)j * client->width + i];
      if (!*c) { *c = 1; tap_uncovered--; }
    }
}

/* ---- arguments; `bad` reports a wrong one (and exits) ---- */
static inline long tap_number(const char *flag, const char *s, long min, long max, void (*bad)(const char *msg)) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || end == s || v < min || v > max) {
    char msg[256];
    snprintf(msg, sizeof msg, "%s wants a number in %ld..%ld, got '%s'", flag, min, max, s);
    bad(msg);
  }
  return v;
}

/* HOST:PORT into *host (allocated) and *port; 0 when `a` has no HOST: part. */
static inline int tap_host_port(const char *a, const char **host, int *port, void (*bad)(const char *msg)) {
  const char *colon = strrchr(a, ':');
  if (!colon || colon == a) return 0;
  *host = strndup(a, (size_t)(colon - a));
  *port = (int)tap_number("port", colon + 1, 1, 65535, bad);
  return 1;
}

#endif
