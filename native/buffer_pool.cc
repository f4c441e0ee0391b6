#include "buffer_pool.h"

#include <algorithm>
#include <mutex>
#include <unordered_set>

namespace vgpu {

namespace {

constexpr size_t kMaxPooled = 8;
constexpr size_t kMaxPooledBytes = 96u << 20;
constexpr size_t kMinPooledBytes = 64u << 10;  // smaller ones are cheap to allocate

std::mutex pool_mutex;
std::vector<std::vector<uint8_t>>& Pool() {
  static auto* pool = new std::vector<std::vector<uint8_t>>();  // leaked: outlives finalizers at exit
  return *pool;
}

// The data pointers of Buffers handed to JS by BufferFromPool and not yet finalized: only
// these may be detached by RecycleBuffer (never a Buffer of Node's own, or a view of another).
std::mutex lent_mutex;
std::unordered_set<const void*>& Lent() {
  static auto* lent = new std::unordered_set<const void*>();  // leaked, as the pool
  return *lent;
}

}  // namespace

std::vector<uint8_t> TakeBuffer(size_t min_size) {
  std::vector<uint8_t> buffer;
  if (min_size >= kMinPooledBytes) {
    std::lock_guard<std::mutex> lock(pool_mutex);
    auto& pool = Pool();
    // The smallest that fits and is not wastefully big (a small output must not pin a
    // frame-sized buffer until the GC runs).
    const size_t too_big = std::max<size_t>(4 * min_size, 1u << 20);
    size_t pick = pool.size();
    for (size_t i = 0; i < pool.size(); i++) {
      const size_t n = pool[i].size();
      if (n >= min_size && n <= too_big && (pick == pool.size() || n < pool[pick].size())) pick = i;
    }
    if (pick < pool.size()) {
      buffer = std::move(pool[pick]);
      pool.erase(pool.begin() + static_cast<std::ptrdiff_t>(pick));
    }
  }
  if (buffer.size() < min_size) {
    // A fresh one (growing would copy the old contents), with a margin so the next slightly
    // bigger frame fits too.
    buffer = std::vector<uint8_t>();
    buffer.resize(min_size >= kMinPooledBytes ? min_size + min_size / 8 : min_size);
  }
  return buffer;
}

void GiveBuffer(std::vector<uint8_t>&& buffer) {
  if (buffer.size() < kMinPooledBytes) return;
  std::vector<uint8_t> dropped;  // freed outside the lock
  std::lock_guard<std::mutex> lock(pool_mutex);
  auto& pool = Pool();
  pool.push_back(std::move(buffer));
  size_t total = 0;
  for (const auto& b : pool) total += b.size();
  while (pool.size() > kMaxPooled || total > kMaxPooledBytes) {
    auto smallest = std::min_element(pool.begin(), pool.end(), [](const auto& a, const auto& b) { return a.size() < b.size(); });
    total -= smallest->size();
    dropped = std::move(*smallest);
    pool.erase(smallest);
    if (pool.size() <= kMaxPooled && total <= kMaxPooledBytes) break;
  }
}

Napi::Value BufferFromPool(Napi::Env env, std::vector<uint8_t>&& buffer, size_t length) {
  if (length == 0) {
    GiveBuffer(std::move(buffer));
    return Napi::Buffer<uint8_t>::New(env, 0);
  }
  auto* owned = new std::vector<uint8_t>(std::move(buffer));
  const int64_t bytes = static_cast<int64_t>(owned->size());
  // Tell V8 about the memory, so big frames make it collect old Buffers (and refill the pool).
  Napi::MemoryManagement::AdjustExternalMemory(env, bytes);
  {
    std::lock_guard<std::mutex> lock(lent_mutex);
    Lent().insert(owned->data());
  }
  return Napi::Buffer<uint8_t>::New(
      env, owned->data(), length,
      [bytes](Napi::Env e, uint8_t* data, std::vector<uint8_t>* hint) {
        {
          std::lock_guard<std::mutex> lock(lent_mutex);
          Lent().erase(data);
        }
        Napi::MemoryManagement::AdjustExternalMemory(e, -bytes);
        GiveBuffer(std::move(*hint));
        delete hint;
      },
      owned);
}

Napi::Value RecycleBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray()) return Napi::Boolean::New(env, false);
  Napi::ArrayBuffer ab = info[0].As<Napi::TypedArray>().ArrayBuffer();
  if (env.IsExceptionPending() || ab.IsDetached()) return Napi::Boolean::New(env, false);
  {
    std::lock_guard<std::mutex> lock(lent_mutex);
    if (Lent().count(ab.Data()) == 0) return Napi::Boolean::New(env, false);
  }
  // Every view of it becomes empty; V8 drops the memory, and the finalizer gives it back.
  ab.Detach();
  if (env.IsExceptionPending()) {
    env.GetAndClearPendingException();
    return Napi::Boolean::New(env, false);
  }
  return Napi::Boolean::New(env, true);
}

}  // namespace vgpu
