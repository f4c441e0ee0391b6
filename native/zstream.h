// ZStream: one persistent zlib deflate stream. Each deflate() call ends with
// Z_SYNC_FLUSH, so its output is decodable at once but the stream never ends —
// what ZRLE (one stream per connection) and Tight (four) need.
//
// Large inputs are deflated in parallel (as neatvnc does): cut into blocks, each block
// compressed by its own raw deflate stream primed with the 32 KiB that precede it (so
// little ratio is lost) and ended with a sync flush on a byte boundary, the outputs
// concatenated in order. That is still one valid deflate stream, because no block is
// final and a VNC stream never ends (no Adler-32 trailer is ever read). The main stream
// is raw deflate with the zlib header written by hand, so that after a parallel call it
// can be given the decoder's window as its dictionary and continue the same stream.
// Inputs that samples say will not deflate (noise) go in stored blocks (level 0, memcpy
// speed): a level-1 deflate spends ~200 ms on a 1080p noise frame to save nothing.
#pragma once

#include <napi.h>
#include <zlib.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace vgpu {

/** Level-1 raw deflate size of `n` bytes (a compressibility sample), on any thread. */
size_t Level1DeflatedSize(const uint8_t* in, size_t n);

class ZStream : public Napi::ObjectWrap<ZStream> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit ZStream(const Napi::CallbackInfo& info);
  ~ZStream() override;

  /** Inputs at least this long go parallel unless the constructor says otherwise. */
  static constexpr size_t kDefaultParallelMinBytes = 128 * 1024;

  /** The ZStream wrapped by `value`, or nullptr when it is not one of ours. */
  static ZStream* FromValue(const Napi::Value& value);

  /**
   * Compresses [in, in+len) and sync-flushes, on any thread: `out` becomes exactly the bytes
   * to send (zlib header first when due; empty for an empty input right after a flush).
   * Big inputs take the parallel path. Not re-entrant: the caller guarantees no concurrent
   * use of this stream (native async jobs hold it with TryBeginJob/EndJob). Returns false
   * with a message in *error on a zlib failure.
   */
  bool DeflateToVector(const uint8_t* in, size_t len, std::vector<uint8_t>& out, std::string* error);

  /**
   * The same for `count` consecutive segments of [in, in + Σ lens): each is sync-flushed, and
   * outs[i] (resized to count) gets exactly its bytes, as if DeflateToVector were called once
   * per segment (ZRLE: one zlib chunk per rectangle). The segments go parallel together when
   * their total is big, so many small rects still use every core. Same rules as above.
   */
  bool DeflateSegments(const uint8_t* in, const size_t* lens, size_t count, std::vector<std::vector<uint8_t>>& outs,
                       std::string* error);

  /**
   * DeflateSegments into one buffer: `out` (its memory reused; size() may exceed the result)
   * gets the segments' bytes back to back, sizes[i] (resized to count) how many are segment
   * i's. Returns the total in *total. For callers that keep `out` between frames.
   */
  bool DeflateSegmentsInto(const uint8_t* in, const size_t* lens, size_t count, std::vector<uint8_t>& out,
                           std::vector<size_t>& sizes, size_t* total, std::string* error);

  /**
   * Claims the stream for one job off the JS thread (call on the JS thread); false when a
   * job already holds it. While held, deflate()/reset()/deflateAsync() from JS throw.
   */
  bool TryBeginJob();
  /** Releases the claim (on the JS thread, when the job has settled). */
  void EndJob();

 private:
  Napi::Value Deflate(const Napi::CallbackInfo& info);
  Napi::Value DeflateAsync(const Napi::CallbackInfo& info);
  Napi::Value Reset(const Napi::CallbackInfo& info);
  bool ThrowIfUnusable(Napi::Env env, const char* method);

  bool DeflateParallel(const uint8_t* in, const size_t* lens, size_t count, std::vector<uint8_t>& out,
                       size_t& produced, std::vector<size_t>& sizes);

  z_stream stream_{};
  int level_ = 6;
  int active_level_ = 6;  // the stream's level now: 0 after a call that went stored (see DeflateSegmentsInto)
  bool initialized_ = false;
  bool header_pending_ = true;  // the 2-byte zlib header goes before the first output
  double parallel_min_bytes_ = kDefaultParallelMinBytes;
  std::atomic<bool> busy_{false};  // an async job owns the stream
  // Outputs of the parallel path's pieces, kept between calls so their pages stay mapped.
  std::vector<std::vector<uint8_t>> piece_buffers_;
};

}  // namespace vgpu
