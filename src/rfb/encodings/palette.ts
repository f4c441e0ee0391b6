// A small open-addressing colour → index table for encoder hot loops (no Map, no
// allocation per pixel). clear() is O(1): slots are stamped with a generation number.
export class ColourTable {
  /** colours in insertion order; valid for [0, size) */
  readonly colours: Uint32Array;
  /** how often each colour was added (add's `n`) */
  readonly counts: Uint32Array;
  size = 0;
  private readonly keys: Uint32Array;
  private readonly slotIndex: Int32Array;
  private readonly stamps: Uint32Array;
  private readonly mask: number;
  private readonly shift: number;
  private gen = 1;

  /** Holds up to `maxColours` colours. */
  constructor(readonly maxColours: number) {
    let cap = 16;
    while (cap < maxColours * 2) cap *= 2;
    this.keys = new Uint32Array(cap);
    this.slotIndex = new Int32Array(cap);
    this.stamps = new Uint32Array(cap);
    this.mask = cap - 1;
    this.shift = 32 - Math.log2(cap);
    this.colours = new Uint32Array(maxColours);
    this.counts = new Uint32Array(maxColours);
  }

  clear(): void {
    this.size = 0;
    if (++this.gen === 0xffffffff) {
      this.stamps.fill(0);
      this.gen = 1;
    }
  }

  /** Index of `c`, adding it (count += n); −1 when it is new and the table is full. */
  add(c: number, n: number): number {
    const mask = this.mask;
    let slot = Math.imul(c, 0x9e3779b1) >>> this.shift;
    for (;;) {
      if (this.stamps[slot] !== this.gen) {
        if (this.size === this.maxColours) return -1;
        const idx = this.size++;
        this.stamps[slot] = this.gen;
        this.keys[slot] = c;
        this.slotIndex[slot] = idx;
        this.colours[idx] = c;
        this.counts[idx] = n;
        return idx;
      }
      if (this.keys[slot] === c) {
        const idx = this.slotIndex[slot]!;
        this.counts[idx] += n;
        return idx;
      }
      slot = (slot + 1) & mask;
    }
  }

  /** Index of `c`, or −1. */
  indexOf(c: number): number {
    const mask = this.mask;
    let slot = Math.imul(c, 0x9e3779b1) >>> this.shift;
    for (;;) {
      if (this.stamps[slot] !== this.gen) return -1;
      if (this.keys[slot] === c) return this.slotIndex[slot]!;
      slot = (slot + 1) & mask;
    }
  }

  /** Index of the colour with the highest count (0 when empty). */
  mostCommon(): number {
    let best = 0;
    for (let i = 1; i < this.size; i++) if (this.counts[i]! > this.counts[best]!) best = i;
    return best;
  }
}
