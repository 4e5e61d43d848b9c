#pragma once
// Graceful stop for long-running subcommands. Construct a TerminationSignals in main before any
// thread starts (threads inherit the blocked mask), start the servers, then wait(): it returns
// the signal (SIGINT or SIGTERM) that asked us to stop.
#include <csignal>

namespace gatedrill {

class TerminationSignals {
 public:
  TerminationSignals();   // blocks SIGINT, SIGTERM (and ignores SIGPIPE) in this thread
  ~TerminationSignals();  // restores the previous mask
  TerminationSignals(const TerminationSignals&) = delete;
  TerminationSignals& operator=(const TerminationSignals&) = delete;

  int wait();  // blocks until SIGINT or SIGTERM arrives
  // Non-blocking: the pending signal, or 0.
  int poll();

 private:
  sigset_t set_;
  sigset_t previous_;
};

// The one-line JSON a component prints when it is ready, e.g.
// {"component":"upstream","port":41234,"admin_port":41235}
void print_ready_line(const char* component, int port, int admin_port);

}  // namespace gatedrill
