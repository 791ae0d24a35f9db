#pragma once
// A trace: everything one detonation observed. The header says what was run and how (sample,
// sandbox, tracer, decoys); the events are the evidence, in time order. A trace re-derives its
// verdict without re-running anything (`modelvet replay`).
#include <string>

#include <nlohmann/json.hpp>

#include "trace/event.h"
#include "trace/header.h"

namespace modelvet {

struct Trace {
  TraceHeader header;
  Events events;          // sorted by t_ns
};

void sort_events(Events& events);
// Writes header + events as JSON Lines. False with *error when the file cannot be written.
bool write_trace(const Trace& trace, const std::string& path, std::string* error);
// Reads a trace; a malformed line, a header that lacks or misspells a field the verdict depends
// on, or an event of unknown kind is an error naming its line number.
bool read_trace(const std::string& path, Trace* trace, std::string* error);

}  // namespace modelvet
