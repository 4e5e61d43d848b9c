#include "core/util/signals.hpp"

#include <pthread.h>

#include <cstdio>
#include <ctime>

namespace gatedrill {

TerminationSignals::TerminationSignals() {
  std::signal(SIGPIPE, SIG_IGN);  // a peer closing mid-write is an error code, not a death
  sigemptyset(&set_);
  sigaddset(&set_, SIGINT);
  sigaddset(&set_, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set_, &previous_);
}

TerminationSignals::~TerminationSignals() { pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }

int TerminationSignals::wait() {
  int signo = 0;
  while (sigwait(&set_, &signo) != 0) {
  }
  return signo;
}

int TerminationSignals::poll() {
  timespec zero{0, 0};
  int signo = sigtimedwait(&set_, nullptr, &zero);
  return signo > 0 ? signo : 0;
}

void print_ready_line(const char* component, int port, int admin_port) {
  std::printf("{\"component\":\"%s\",\"port\":%d,\"admin_port\":%d}\n", component, port, admin_port);
  std::fflush(stdout);
}

}  // namespace gatedrill
