// ZRLE (16) encoding of a batch of rects: 64×64 tiles (raw / solid / packed palette / plain
// RLE / palette RLE, the smallest wins — the same choices as src/rfb/encodings/zrle.ts's
// tile encoder, so the uncompressed bytes are identical), encoded in bands on the worker pool,
// then one sync-flushed zlib chunk per rect from the connection's ZStream (parallel deflate
// across the rects when big). Everything off the JS thread in zrleEncode.
#pragma once

#include <napi.h>

namespace vgpu {

/**
 * zrleEncode(zstream, surface, rects, pf): Promise<Buffer> holding every non-empty rect as
 * header + u32 length + zlib bytes, in order. The stream is claimed until it settles (other
 * calls on it throw / reject 'EBUSY').
 */
Napi::Value ZrleEncode(const Napi::CallbackInfo& info);
/** zrleEncodeSync: the same on the calling thread. */
Napi::Value ZrleEncodeSync(const Napi::CallbackInfo& info);

}  // namespace vgpu
