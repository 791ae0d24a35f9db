#pragma once
// The end of a jail forked from a zygote. Py_FinalizeEx there would tear down every module the
// zygote imported (torch's thousands): each DECREF writes to a page the jail shares with the
// zygote, so the last 40 ms of a jail copied ~30 MB and cost more CPU than its load. A victim's
// shutdown is run instead for what the jail itself added: its threads, atexit callbacks
// (weakref.finalize's among them), every module, binding and object that appeared after the
// fork, and the finalisers of objects still alive; what the zygote imported is left as it is.
#include <string>

namespace modelvet::harness {

// In the zygote, after its setup imports and before gc.freeze: what every module holds, so a
// jail can tell what it added. Needs the GIL.
bool snapshot_zygote_modules(std::string* error);

// In a forked jail, once the harness's setup is done (its recorder bound into pickle, joblib,
// dill): those bindings are the harness's, kept through the shutdown. Needs the GIL.
void mark_harness_bindings();

// In a forked jail, in place of Py_FinalizeEx (the process _exits afterwards): non-daemon threads
// joined, atexit callbacks, the std streams flushed; then the jail's own modules cleared, every
// binding it added to or changed in a zygote module deleted, the collector run, and the
// finalizer (__del__, a generator's close, a file's flush) of every object created in the jail
// that is still alive called once. Needs the GIL.
void finalize_forked_interpreter();

}  // namespace modelvet::harness
