#include "zstream.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <memory>
#include <string>

#include "errors.h"
#include "thread_pool.h"

namespace vgpu {

namespace {

constexpr int kWindowBits = 15;
constexpr size_t kWindow = size_t{1} << kWindowBits;  // deflate's 32 KiB history
constexpr size_t kMaxBlockBytes = 512 * 1024;          // largest parallel task

int EffectiveLevel(int level) { return level == Z_DEFAULT_COMPRESSION ? 6 : level; }

// RFC 1950 header for a 32 KiB window, as deflateInit would write it for this level.
void ZlibHeader(int level, uint8_t out[2]) {
  level = EffectiveLevel(level);
  const unsigned flags = level < 2 ? 0 : level < 6 ? 1 : level == 6 ? 2 : 3;
  unsigned header = ((Z_DEFLATED + ((kWindowBits - 8) << 4)) << 8) | (flags << 6);
  header += 31 - header % 31;
  out[0] = static_cast<uint8_t>(header >> 8);
  out[1] = static_cast<uint8_t>(header);
}

// Compress all of [in, in+len) and sync-flush, appending at out[produced..] (grown as
// needed). Returns false on a zlib error.
bool DeflateInto(z_stream* s, const uint8_t* in, size_t len, std::vector<uint8_t>& out, size_t& produced) {
  const size_t bound = deflateBound(s, static_cast<uLong>(std::min<size_t>(len, ULONG_MAX))) + 64;
  if (out.size() < produced + bound) out.resize(produced + bound);
  size_t remaining = len;
  for (;;) {
    // avail_in is a uInt: feed very large inputs in slices.
    if (s->avail_in == 0 && remaining > 0) {
      const size_t slice = std::min<size_t>(remaining, UINT_MAX);
      s->next_in = const_cast<Bytef*>(in);
      s->avail_in = static_cast<uInt>(slice);
      in += slice;
      remaining -= slice;
    }
    if (out.size() - produced < 64) out.resize(out.size() * 2);
    const size_t room = std::min<size_t>(out.size() - produced, UINT_MAX);
    s->next_out = out.data() + produced;
    s->avail_out = static_cast<uInt>(room);
    const int flush = remaining > 0 ? Z_NO_FLUSH : Z_SYNC_FLUSH;
    const int rc = deflate(s, flush);
    produced += room - s->avail_out;
    // Z_BUF_ERROR only means "no progress possible": nothing left to do.
    if (rc != Z_OK && rc != Z_BUF_ERROR) return false;
    if (remaining == 0 && s->avail_in == 0 && s->avail_out != 0) break;
  }
  s->next_in = nullptr;
  return true;
}

// Inputs at least this big are sampled for compressibility before deflating.
constexpr size_t kSampleMinBytes = 256 * 1024;
constexpr size_t kSampleSlices = 8;
constexpr size_t kSliceBytes = 4096;
// A slice deflating to more than this share of its size would not pay for deflate.
constexpr double kIncompressibleRatio = 0.9;
// Stored when at least this many slices are incompressible: a little compressible content
// in a noisy frame (a clock, a logo) costs nothing much stored, while a sum over all slices
// would let it decide for the whole frame.
constexpr size_t kIncompressibleSlices = 6;

bool LooksIncompressible(const uint8_t* in, size_t len) {
  size_t incompressible = 0;
  for (size_t k = 0; k < kSampleSlices; k++) {
    const size_t at = (len - kSliceBytes) / (kSampleSlices - 1) * k;
    if (static_cast<double>(Level1DeflatedSize(in + at, kSliceBytes)) > kIncompressibleRatio * kSliceBytes) incompressible++;
  }
  return incompressible >= kIncompressibleSlices;
}

// Switches the stream's level between calls (all input consumed, nothing pending after the last
// sync flush); any bytes zlib emits doing so are appended to out. Returns false on a zlib error.
bool SwitchLevel(z_stream* s, int level, std::vector<uint8_t>& out, size_t& produced) {
  if (out.size() - produced < 64) out.resize(produced + 64);
  s->next_out = out.data() + produced;
  s->avail_out = static_cast<uInt>(out.size() - produced);
  const uInt room = s->avail_out;
  const int rc = deflateParams(s, level, Z_DEFAULT_STRATEGY);
  produced += room - s->avail_out;
  return rc == Z_OK;
}

// One raw deflate stream per pool slot, reused across jobs (jobs never overlap, slots are
// unique within a job, so no lock).
struct BlockStream {
  z_stream s{};
  int level = INT_MIN;  // INT_MIN: not initialized
  ~BlockStream() {
    if (level != INT_MIN) deflateEnd(&s);
  }
  bool Start(int want) {
    if (level == want) return deflateReset(&s) == Z_OK;
    if (level != INT_MIN) deflateEnd(&s);
    level = INT_MIN;
    s = z_stream{};
    if (deflateInit2(&s, want, Z_DEFLATED, -kWindowBits, 8, Z_DEFAULT_STRATEGY) != Z_OK) return false;
    level = want;
    return true;
  }
};

std::vector<std::unique_ptr<BlockStream>>& BlockStreams() {
  static auto* streams = [] {
    auto* v = new std::vector<std::unique_ptr<BlockStream>>();
    for (size_t i = 0; i < WorkerPool::Shared().participants(); i++) v->push_back(std::make_unique<BlockStream>());
    return v;
  }();
  return *streams;
}

// Tags our wrapped objects so native code taking "a ZStream" argument can check it.
constexpr napi_type_tag kZStreamTag = {0x7a5d1c0e3b9f4a21ULL, 0x9c4e2f8d1a6b3e57ULL};

// deflateAsync: the deflate on the libuv pool. Holds the input and the ZStream object (and
// the stream's job claim) until it settles.
class DeflateWorker : public Napi::AsyncWorker {
 public:
  DeflateWorker(Napi::Env env, ZStream* stream, const Napi::Object& stream_object, const Napi::Uint8Array& input)
      : Napi::AsyncWorker(env, "vgpu-vnc:deflate"),
        deferred_(Napi::Promise::Deferred::New(env)),
        stream_(stream),
        in_(input.Data()),
        len_(input.ByteLength()) {
    stream_ref_ = Napi::Persistent(stream_object);
    input_ref_ = Napi::Persistent(static_cast<Napi::Object>(input));
  }

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    std::string error;
    if (!stream_->DeflateToVector(in_, len_, out_, &error)) SetError(error);
  }

  void OnOK() override {
    stream_->EndJob();
    deferred_.Resolve(Napi::Buffer<uint8_t>::Copy(Env(), out_.data(), out_.size()));
  }

  void OnError(const Napi::Error& error) override {
    stream_->EndJob();
    deferred_.Reject(ErrorWithCode(Env(), "EZLIB", error.Message()).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  ZStream* stream_;
  const uint8_t* in_;
  size_t len_;
  std::vector<uint8_t> out_;
  Napi::ObjectReference stream_ref_;
  Napi::ObjectReference input_ref_;
};

}  // namespace

Napi::Function ZStream::Define(Napi::Env env) {
  return DefineClass(env, "ZStream",
                     {
                         InstanceMethod<&ZStream::Deflate>("deflate"),
                         InstanceMethod<&ZStream::DeflateAsync>("deflateAsync"),
                         InstanceMethod<&ZStream::Reset>("reset"),
                     });
}

ZStream* ZStream::FromValue(const Napi::Value& value) {
  if (!value.IsObject()) return nullptr;
  Napi::Object object = value.As<Napi::Object>();
  if (!object.CheckTypeTag(&kZStreamTag)) return nullptr;
  return Napi::ObjectWrap<ZStream>::Unwrap(object);
}

bool ZStream::TryBeginJob() {
  bool expected = false;
  return busy_.compare_exchange_strong(expected, true);
}

void ZStream::EndJob() { busy_.store(false); }

// new ZStream(level, parallelMinBytes?): inputs of at least parallelMinBytes bytes (default
// 128 KiB; Infinity: never) are deflated on several threads.
ZStream::ZStream(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ZStream>(info) {
  Napi::Env env = info.Env();
  double level = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -2.0;
  if (!(level >= -1 && level <= 9) || level != static_cast<double>(static_cast<int>(level))) {
    RangeErrorWithCode(env, "ZStream: level must be an integer in -1..9, got " + ValueForMessage(info[0]))
        .ThrowAsJavaScriptException();
    return;
  }
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    const double min = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : NAN;
    if (!(min >= 1)) {
      RangeErrorWithCode(env, "ZStream: parallelMinBytes must be a number >= 1 (or Infinity), got " +
                                  ValueForMessage(info[1]))
          .ThrowAsJavaScriptException();
      return;
    }
    parallel_min_bytes_ = min;
  }
  level_ = static_cast<int>(level);
  info.This().As<Napi::Object>().TypeTag(&kZStreamTag);
  // Raw deflate (negative window bits): the header is ours to write, and the dictionary can
  // be replaced mid-stream after a parallel call.
  active_level_ = level_;
  int rc = deflateInit2(&stream_, level_, Z_DEFLATED, -kWindowBits, 8, Z_DEFAULT_STRATEGY);
  if (rc != Z_OK) {
    ErrorWithCode(env, "EZLIB", std::string("ZStream: deflateInit failed: ") + (stream_.msg ? stream_.msg : "?"))
        .ThrowAsJavaScriptException();
    return;
  }
  initialized_ = true;
}

ZStream::~ZStream() {
  if (initialized_) deflateEnd(&stream_);
}

bool ZStream::ThrowIfUnusable(Napi::Env env, const char* method) {
  if (!initialized_) {
    ErrorWithCode(env, "EBADF", "ZStream is not initialized").ThrowAsJavaScriptException();
    return true;
  }
  if (busy_.load()) {
    ErrorWithCode(env, "EBUSY",
                  std::string("ZStream.") + method +
                      ": a deflateAsync (or native encode) on this stream is still running; calls on one stream must not overlap")
        .ThrowAsJavaScriptException();
    return true;
  }
  return false;
}

size_t Level1DeflatedSize(const uint8_t* in, size_t n) {
  // One stream per thread, reused between calls.
  struct Sampler {
    z_stream s{};
    bool ready = deflateInit2(&s, 1, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK;
    ~Sampler() {
      if (ready) deflateEnd(&s);
    }
  };
  thread_local Sampler sampler;
  thread_local std::vector<uint8_t> out;
  z_stream& s = sampler.s;
  if (!sampler.ready || deflateReset(&s) != Z_OK) return n;
  out.resize(deflateBound(&s, static_cast<uLong>(n)) + 16);
  s.next_in = const_cast<Bytef*>(in);
  s.avail_in = static_cast<uInt>(n);
  s.next_out = out.data();
  s.avail_out = static_cast<uInt>(out.size());
  if (deflate(&s, Z_FINISH) != Z_STREAM_END) return n;
  return out.size() - s.avail_out;
}

bool ZStream::DeflateToVector(const uint8_t* in, size_t len, std::vector<uint8_t>& out, std::string* error) {
  std::vector<size_t> sizes;
  size_t total = 0;
  if (!DeflateSegmentsInto(in, &len, 1, out, sizes, &total, error)) return false;
  out.resize(total);
  return true;
}

bool ZStream::DeflateSegments(const uint8_t* in, const size_t* lens, size_t count,
                              std::vector<std::vector<uint8_t>>& outs, std::string* error) {
  std::vector<uint8_t> all;
  std::vector<size_t> sizes;
  size_t total = 0;
  outs.assign(count, {});
  if (!DeflateSegmentsInto(in, lens, count, all, sizes, &total, error)) return false;
  for (size_t i = 0, off = 0; i < count; off += sizes[i], i++) outs[i].assign(all.data() + off, all.data() + off + sizes[i]);
  return true;
}

bool ZStream::DeflateSegmentsInto(const uint8_t* in, const size_t* lens, size_t count, std::vector<uint8_t>& out,
                                  std::vector<size_t>& sizes, size_t* total_out, std::string* error) {
  sizes.assign(count, 0);
  *total_out = 0;
  size_t total = 0;
  for (size_t i = 0; i < count; i++) total += lens[i];
  // The 2-byte zlib header goes before the stream's first byte, i.e. before the first
  // non-empty segment (all segments before it are empty, so position 0 is right).
  size_t produced = 0;
  const bool header = header_pending_;
  if (header) {
    if (out.size() < 2) out.resize(2);
    ZlibHeader(level_, out.data());
    produced = 2;
  }
  // Noise goes in stored blocks; the stream keeps its window, so what follows still finds
  // matches in it (deflate_stored maintains it for a later level change).
  const bool stored = EffectiveLevel(level_) != 0 && total >= kSampleMinBytes && LooksIncompressible(in, total);
  // Stored (level 0) is memcpy speed already; one worker thread would only add a hop.
  const bool parallel = !stored && level_ != 0 && static_cast<double>(total) >= parallel_min_bytes_ &&
                        WorkerPool::Shared().participants() > 1;
  bool ok = true;
  if (parallel) {
    ok = DeflateParallel(in, lens, count, out, produced, sizes);
  } else {
    // The level changes at the start of a call, never at the end: zlib may emit a few bits
    // doing so, and the first segment's sync flush then ends them on a byte boundary.
    const int want = stored ? 0 : level_;
    const size_t before_switch = produced;
    if (total > 0 && active_level_ != want) {
      ok = SwitchLevel(&stream_, want, out, produced);
      if (ok) active_level_ = want;
    }
    const size_t switched = produced - before_switch;
    for (size_t i = 0, off = 0; ok && i < count; off += lens[i], i++) {
      const size_t before = produced;
      ok = DeflateInto(&stream_, in + off, lens[i], out, produced);
      sizes[i] = produced - before + (i == 0 ? switched : 0);
    }
  }
  if (!ok) {
    *error = std::string("ZStream deflate failed: ") + (stream_.msg ? stream_.msg : "zlib error");
    sizes.assign(count, 0);
    return false;
  }
  if (header) {
    // An empty input right after a flush adds nothing: keep the header for the next call.
    auto first = std::find_if(sizes.begin(), sizes.end(), [](size_t n) { return n > 0; });
    if (first == sizes.end()) return true;
    *first += 2;
    header_pending_ = false;
  }
  *total_out = produced;
  return true;
}

static bool IsUint8Array(const Napi::Value& v) {
  return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array;
}

Napi::Value ZStream::Deflate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (ThrowIfUnusable(env, "deflate")) return env.Undefined();
  if (!IsUint8Array(info[0])) {
    TypeErrorWithCode(env, "ZStream.deflate: input must be a Buffer or Uint8Array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint8Array input = info[0].As<Napi::Uint8Array>();
  std::vector<uint8_t> out;
  std::string error;
  if (!DeflateToVector(input.Data(), input.ByteLength(), out, &error)) {
    ErrorWithCode(env, "EZLIB", error).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Buffer<uint8_t>::Copy(env, out.data(), out.size());
}

// deflateAsync(input): deflate() on the libuv pool. The input must stay unchanged until the
// promise settles; calls on one stream must not overlap (a second one throws EBUSY).
Napi::Value ZStream::DeflateAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (ThrowIfUnusable(env, "deflateAsync")) return env.Undefined();
  if (!IsUint8Array(info[0])) {
    TypeErrorWithCode(env, "ZStream.deflateAsync: input must be a Buffer or Uint8Array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  TryBeginJob();  // cannot fail: ThrowIfUnusable saw it free, and only this thread claims it
  auto* worker = new DeflateWorker(env, this, info.This().As<Napi::Object>(), info[0].As<Napi::Uint8Array>());
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

bool ZStream::DeflateParallel(const uint8_t* in, const size_t* lens, size_t count, std::vector<uint8_t>& out,
                              size_t& produced, std::vector<size_t>& sizes) {
  size_t len = 0;
  for (size_t i = 0; i < count; i++) len += lens[i];
  // The decoder's window before this call: what the main stream has seen (at most 32 KiB).
  std::vector<uint8_t> history(kWindow);
  uInt history_len = 0;
  if (deflateGetDictionary(&stream_, history.data(), &history_len) != Z_OK) return false;

  // Equal blocks, as many as a whole number of rounds over the participants needs, so no
  // thread idles at the end (a 192 KiB Tight rect on 2 cores: two 96 KiB blocks).
  const size_t parts = WorkerPool::Shared().participants();
  const size_t rounds = (len + parts * kMaxBlockBytes - 1) / (parts * kMaxBlockBytes);
  const size_t blocks = parts * rounds;
  const size_t block_bytes = (len + blocks - 1) / blocks;

  // A block is cut further at segment ends: each piece is deflated and sync-flushed on its
  // own, so every segment's bytes end on a flush, and pieces concatenate into segments.
  struct Piece {
    size_t segment, start, length;
    std::vector<uint8_t>* bytes;  // one of piece_buffers_
    size_t size = 0;
  };
  std::vector<std::vector<Piece>> pieces(blocks);
  size_t piece_count = 0;
  for (size_t seg = 0, seg_start = 0; seg < count; seg_start += lens[seg], seg++) {
    for (size_t p = seg_start, end = seg_start + lens[seg]; p < end;) {
      const size_t block = p / block_bytes;
      const size_t piece_end = std::min(end, (block + 1) * block_bytes);
      pieces[block].push_back(Piece{seg, p, piece_end - p, nullptr, 0});
      piece_count++;
      p = piece_end;
    }
  }
  // Buffers only once they all exist (growing piece_buffers_ moves them).
  if (piece_buffers_.size() < piece_count) piece_buffers_.resize(piece_count);
  for (size_t b = 0, k = 0; b < blocks; b++) {
    for (Piece& piece : pieces[b]) piece.bytes = &piece_buffers_[k++];
  }
  std::vector<char> failed(blocks, 0);
  auto& streams = BlockStreams();
  const int level = level_;
  WorkerPool::Shared().ParallelFor(blocks, [&](size_t i, size_t slot) {
    if (pieces[i].empty()) return;  // rounding left the last block empty
    BlockStream& bs = *streams[slot];
    const size_t start = pieces[i].front().start;
    // Prime with the 32 KiB before the block, as the decoder will have them.
    const uint8_t* dict = start == 0 ? history.data() : in + start - std::min(start, kWindow);
    const size_t dict_len = start == 0 ? history_len : std::min(start, kWindow);
    bool ok = bs.Start(level);
    if (ok && dict_len > 0) ok = deflateSetDictionary(&bs.s, dict, static_cast<uInt>(dict_len)) == Z_OK;
    for (Piece& piece : pieces[i]) {
      if (ok) ok = DeflateInto(&bs.s, in + piece.start, piece.length, *piece.bytes, piece.size);
    }
    failed[i] = !ok;
  });
  size_t total = produced;
  for (size_t i = 0; i < blocks; i++) {
    if (failed[i]) return false;
    for (const Piece& piece : pieces[i]) total += piece.size;
  }
  if (out.size() < total) out.resize(total);
  for (auto& block : pieces) {
    for (const Piece& piece : block) {
      std::copy_n(piece.bytes->data(), piece.size, out.data() + produced);
      produced += piece.size;
      sizes[piece.segment] += piece.size;
    }
  }
  // The main stream continues where the blocks left off: give it the decoder's new window.
  // (All its input was consumed at its last sync flush, so zlib allows this mid-stream.)
  const size_t tail = std::min(len, kWindow);
  return deflateSetDictionary(&stream_, in + len - tail, static_cast<uInt>(tail)) == Z_OK;
}

Napi::Value ZStream::Reset(const Napi::CallbackInfo& info) {
  if (!initialized_ || ThrowIfUnusable(info.Env(), "reset")) return info.Env().Undefined();
  deflateReset(&stream_);
  header_pending_ = true;
  return info.Env().Undefined();
}

}  // namespace vgpu
