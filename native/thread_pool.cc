#include "thread_pool.h"

#include <algorithm>

namespace vgpu {

WorkerPool& WorkerPool::Shared() {
  // Leaked on purpose: the workers block forever and die with the process; joining them from
  // a static destructor at exit could hang.
  static WorkerPool* pool = [] {
    const unsigned hw = std::thread::hardware_concurrency();
    const size_t workers = hw > 1 ? std::min<size_t>(hw - 1, 7) : 0;
    return new WorkerPool(workers);
  }();
  return *pool;
}

WorkerPool::WorkerPool(size_t workers) {
  threads_.reserve(workers);
  for (size_t i = 0; i < workers; i++) threads_.emplace_back(&WorkerPool::WorkerLoop, this, i + 1);
}

void WorkerPool::ParallelFor(size_t n, const Task& task) {
  if (n == 0) return;
  std::lock_guard<std::mutex> job(job_mutex_);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    task_ = &task;
    count_ = n;
    next_.store(0, std::memory_order_relaxed);
    busy_ = threads_.size();
    generation_++;
  }
  work_cv_.notify_all();
  RunShare(0);  // the caller works too instead of only waiting
  std::unique_lock<std::mutex> lock(mutex_);
  done_cv_.wait(lock, [this] { return busy_ == 0; });
  task_ = nullptr;
}

void WorkerPool::WorkerLoop(size_t slot) {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      work_cv_.wait(lock, [&] { return generation_ != seen; });
      seen = generation_;
    }
    RunShare(slot);
    std::lock_guard<std::mutex> lock(mutex_);
    if (--busy_ == 0) done_cv_.notify_one();
  }
}

void WorkerPool::RunShare(size_t slot) {
  // task_ and count_ were set under mutex_ before the generation changed: visible here.
  for (size_t i; (i = next_.fetch_add(1, std::memory_order_relaxed)) < count_;) (*task_)(i, slot);
}

}  // namespace vgpu
