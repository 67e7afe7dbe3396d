// Copying between the container's stdio (pipes, or a pty master) and the host's stream
// connections (one connection per stream: ARCHITECTURE.md "The agent").
#pragma once

namespace uvm::agent {

// Copies `source` (pipe read end or pty master; -1 for none) to `sock` until end of file (EIO on a
// pty master: the last slave is closed), then half-closes `sock` and waits for the host to close
// its end: that close is the host's word that it read everything, and only after it does the
// agent report the exit status.
void RelayOutput(int source, int sock);

// Copies `sock` to `sink` (pipe write end or pty master) until the host half-closes its stream
// or `cancel` (an eventfd) becomes readable. At the host's end of input a pty gets ^D (end of
// file for a terminal in canonical mode); a pipe is closed by the caller.
void RelayInput(int sock, int sink, int cancel, bool tty);

}  // namespace uvm::agent
