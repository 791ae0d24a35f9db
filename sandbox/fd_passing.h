#pragma once
// Descriptors handed across a unix socket (SCM_RIGHTS). The jail's bridge binds the fake
// network's sockets inside the jail's namespaces and passes them out: the supervisor then
// serves them without ever entering the namespace, which an unprivileged supervisor could not
// (setns into a network namespace owned by the jail's user namespace needs CAP_SYS_ADMIN in
// the supervisor's own).
#include <string>
#include <vector>

namespace modelvet::sandbox {

inline constexpr size_t kMaxFdText = 512;

// Sends fds with a short text (an error, or "ok"); true when the message went out whole.
bool send_fds(int socket_fd, const std::vector<int>& fds, const std::string& text);

// Receives up to max_fds descriptors (marked close-on-exec) and the text sent with them, or
// waits up to timeout_ms and returns false (EOF, timeout, or a malformed message).
// max_text bounds the text (longer messages are refused as malformed).
bool receive_fds(int socket_fd, size_t max_fds, int timeout_ms, std::vector<int>* fds, std::string* text,
                 size_t max_text = kMaxFdText);

}  // namespace modelvet::sandbox
