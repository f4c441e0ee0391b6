#include "sigbus_guard.h"

#include <csignal>
#include <mutex>

namespace vgpu {

thread_local GuardFrame* tls_guard_frame __attribute__((tls_model("initial-exec"))) = nullptr;

namespace {

struct sigaction previous_action;

void ChainToPrevious(int sig, siginfo_t* info, void* context) {
  if (previous_action.sa_flags & SA_SIGINFO) {
    if (previous_action.sa_sigaction != nullptr) {
      previous_action.sa_sigaction(sig, info, context);
      return;
    }
  } else if (previous_action.sa_handler == SIG_IGN) {
    return;
  } else if (previous_action.sa_handler != SIG_DFL && previous_action.sa_handler != nullptr) {
    previous_action.sa_handler(sig);
    return;
  }
  // Default action: restore it and re-raise. A real fault re-executes the
  // faulting instruction on return and terminates the process as it would
  // have without us.
  signal(sig, SIG_DFL);
  raise(sig);
}

void OnSigbus(int sig, siginfo_t* info, void* context) {
  GuardFrame* frame = tls_guard_frame;
  if (frame != nullptr) {
    tls_guard_frame = nullptr;
    siglongjmp(frame->jump, 1);
  }
  ChainToPrevious(sig, info, context);
}

}  // namespace

void InstallSigbusHandler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action {};
    action.sa_sigaction = OnSigbus;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    sigaction(SIGBUS, &action, &previous_action);
  });
}

void AfterSigbusJump() {
  // The kernel blocked SIGBUS while the handler ran and siglongjmp (savemask 0)
  // did not restore the mask: unblock it, or the next fault kills the process.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGBUS);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

}  // namespace vgpu
