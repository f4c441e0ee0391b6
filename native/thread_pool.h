// WorkerPool: a few threads, started once, for CPU-heavy native work that the caller waits
// for (parallel deflate of one big input). Deliberately not libuv's pool: capture runs there,
// and a synchronous caller blocking on libuv work could starve it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace vgpu {

class WorkerPool {
 public:
  using Task = std::function<void(size_t index, size_t slot)>;

  /** Process-wide pool: hardware threads − 1 workers (the caller is the last), never stopped. */
  static WorkerPool& Shared();

  /** Threads that run a job's tasks: the workers plus the calling thread. */
  size_t participants() const { return threads_.size() + 1; }

  /**
   * Runs task(index, slot) for every index in [0, n) on the workers and the calling thread;
   * returns when all are done. slot (< participants()) is unique among the tasks running at
   * one time, so per-slot scratch state needs no lock. Jobs from several callers run one
   * after another.
   */
  void ParallelFor(size_t n, const Task& task);

 private:
  explicit WorkerPool(size_t workers);
  void WorkerLoop(size_t slot);
  void RunShare(size_t slot);

  std::vector<std::thread> threads_;
  std::mutex job_mutex_;  // one job at a time
  std::mutex mutex_;      // guards the fields below
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  uint64_t generation_ = 0;
  size_t busy_ = 0;
  const Task* task_ = nullptr;
  size_t count_ = 0;
  std::atomic<size_t> next_{0};
};

}  // namespace vgpu
