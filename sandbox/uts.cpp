// The jail's hostname, set in its own UTS namespace so the host's name never shows.
#include "sandbox/uts.h"

#include <unistd.h>

#include <cstring>

#include "sandbox/decoys.h"

namespace modelvet::sandbox {

bool set_jail_hostname() { return sethostname(kJailHostname, strlen(kJailHostname)) == 0; }

}  // namespace modelvet::sandbox
