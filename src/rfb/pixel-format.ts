// Placeholder: the RFB helper owns this file. Shape agreed here.
export interface PixelFormat {
  bitsPerPixel: number; // 8, 16 or 32
  depth: number;
  bigEndian: boolean;
  trueColour: boolean;
  redMax: number;
  greenMax: number;
  blueMax: number;
  redShift: number;
  greenShift: number;
  blueShift: number;
}
