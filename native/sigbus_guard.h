// SIGBUS guard: runs a block of code that reads mapped memory and turns a bus
// error (the file behind the mapping was truncated, the device region vanished)
// into a `false` return instead of killing the process.
#pragma once

#include <atomic>
#include <csetjmp>

namespace vgpu {

struct GuardFrame {
  sigjmp_buf jump;
};

// Per-thread pointer to the innermost armed frame; the handler only jumps when
// it is set. initial-exec TLS so the handler never calls __tls_get_addr.
extern thread_local GuardFrame* tls_guard_frame __attribute__((tls_model("initial-exec")));

// Installs the process-wide SIGBUS handler once (chaining to the previous one).
void InstallSigbusHandler();
// Re-enables SIGBUS delivery after a jump out of the handler.
void AfterSigbusJump();

// Runs fn(); returns false if it hit SIGBUS. fn must not own objects with
// destructors across the faulting read: siglongjmp skips them.
template <typename Fn>
inline bool RunGuarded(Fn&& fn) {
  GuardFrame frame;
  GuardFrame* outer = tls_guard_frame;
  // savemask = 0 keeps the fast path free of a sigprocmask syscall.
  if (sigsetjmp(frame.jump, 0) != 0) {
    tls_guard_frame = outer;
    AfterSigbusJump();
    return false;
  }
  tls_guard_frame = &frame;
  // Keep the compiler from moving mapped-memory reads out of the armed window.
  std::atomic_signal_fence(std::memory_order_seq_cst);
  fn();
  std::atomic_signal_fence(std::memory_order_seq_cst);
  tls_guard_frame = outer;
  return true;
}

}  // namespace vgpu
