#pragma once
// Who the jail runs as: the rootless user namespace's id maps, and becoming the jail user.
#include <sys/types.h>

namespace modelvet::sandbox {

// Rootless, in the bridge right after unshare(CLONE_NEWUSER): maps the jail uid/gid to the
// caller's own, the one mapping an unprivileged process may write (after denying setgroups).
// Returns the failed step ("setgroups deny", "uid_map", "gid_map"; errno set) or nullptr.
const char* map_jail_ids(uid_t jail_uid, gid_t jail_gid, uid_t host_uid, gid_t host_gid);

// In the jail's pid 1, after the bounding set is gone: all of real, effective and saved ids
// become the jail user's. Returns the failed step ("setgroups", "setresgid", "setresuid") or nullptr.
const char* become_jail_user(uid_t uid, gid_t gid, bool user_namespace);

}  // namespace modelvet::sandbox
