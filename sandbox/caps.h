#pragma once
// The jail's capabilities: none, in two steps around becoming the jail user.

namespace modelvet::sandbox {

// Empties the bounding set, which needs CAP_SETPCAP: before becoming the jail user.
void drop_bounding_set();

// Empties the ambient, permitted, effective and inheritable sets. As root, becoming the jail
// user already cleared permitted and effective; in a user namespace the jail user is the
// namespace's creator and keeps them until told otherwise. False when capset failed.
bool drop_capabilities();

}  // namespace modelvet::sandbox
