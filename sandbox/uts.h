#pragma once
// The jail's UTS namespace: the hostname of a believable workstation, not of the host.

namespace modelvet::sandbox {

// In the jail's pid 1, inside its fresh UTS namespace. False (errno set) when refused.
bool set_jail_hostname();

}  // namespace modelvet::sandbox
