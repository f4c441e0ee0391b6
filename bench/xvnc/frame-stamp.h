/*
 * The frame number every benchmark frame carries in its pixels (the same
 * layout as bench/xvnc/frames.ts stampFrame): a 128x16 block at the top-left
 * corner, 16 columns x 2 rows of 8x8 cells, white = 1, black = 0, most
 * significant bit first. Row 0 holds N mod 65536, row 1 its complement, so a
 * torn or badly decoded block is rejected instead of misread. Cells are 8x8
 * and aligned so that lossy JPEG (quality 6) still reads back exactly.
 */
#ifndef FRAME_STAMP_H
#define FRAME_STAMP_H
#include <stdint.h>

enum {
  FRAME_WIDTH = 1920,
  FRAME_HEIGHT = 1080,
  STAMP_CELL = 8,
  STAMP_BITS = 16,
  STAMP_MODULO = 1 << STAMP_BITS,
};

/* Writes N into an XRGB8888 frame (one u32 per pixel, `width` per row). */
static inline void stamp_frame(uint32_t *pixels, int width, uint32_t n) {
  uint32_t rows[2] = {n & 0xffff, ~n & 0xffff};
  for (int r = 0; r < 2; r++)
    for (int c = 0; c < STAMP_BITS; c++) {
      uint32_t colour = (rows[r] >> (STAMP_BITS - 1 - c)) & 1 ? 0x00ffffff : 0;
      for (int y = 0; y < STAMP_CELL; y++) {
        uint32_t *p = pixels + (size_t)(r * STAMP_CELL + y) * width + c * STAMP_CELL;
        for (int x = 0; x < STAMP_CELL; x++) p[x] = colour;
      }
    }
}

/* Reads the stamp back; `luma(x, y)` gives 0..255 at a pixel. Returns N mod
 * 65536, or -1 when the two rows disagree. */
static inline long read_stamp(int (*luma)(void *ctx, int x, int y), void *ctx) {
  uint32_t rows[2] = {0, 0};
  for (int r = 0; r < 2; r++)
    for (int c = 0; c < STAMP_BITS; c++) {
      int v = luma(ctx, c * STAMP_CELL + STAMP_CELL / 2, r * STAMP_CELL + STAMP_CELL / 2);
      rows[r] = rows[r] << 1 | (v >= 128);
    }
  return (rows[0] ^ rows[1]) == 0xffff ? (long)rows[0] : -1;
}
#endif
