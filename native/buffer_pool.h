// Reused big byte buffers for the encoders. A fresh 1080p-sized buffer costs a page fault per
// 4 KiB page on first touch (thousands per frame, and a page fault is slow in a VM); buffers
// that go back to a pool keep their pages. Thread-safe: workers take, the JS thread gives back
// when a Buffer handed to JS is collected.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace vgpu {

/** A buffer of at least `min_size` bytes (size() >= min_size; contents undefined). */
std::vector<uint8_t> TakeBuffer(size_t min_size);

/** Returns a buffer to the pool (which keeps a few, the rest are freed). */
void GiveBuffer(std::vector<uint8_t>&& buffer);

/**
 * A JS Buffer over the first `length` bytes of `buffer`, without a copy; the memory goes back
 * to the pool when the Buffer is collected.
 */
Napi::Value BufferFromPool(Napi::Env env, std::vector<uint8_t>&& buffer, size_t length);

/**
 * recycleBuffer(buffer): when `buffer` views memory lent by BufferFromPool, detaches its
 * ArrayBuffer (every view of it becomes empty) so the memory goes back to the pool now rather
 * than when the GC gets to it: big frames then neither fault in fresh pages nor drive V8 into
 * major collections. For a caller that knows nothing reads the buffer any more (written out).
 * Returns whether it did; anything else is left alone.
 */
Napi::Value RecycleBuffer(const Napi::CallbackInfo& info);

}  // namespace vgpu
