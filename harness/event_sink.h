#pragma once
// The harness's one way out: JSON lines on the event pipe, each written with a single write()
// so that threads and forked children cannot interleave lines.
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

namespace modelvet::harness {

// Takes over `fd`: moves it to a high descriptor (so a payload closing fd 3 misses it) and
// remembers which pipe it is, so a later descriptor reusing the number is never written to.
void sink_open(int fd);

// {"t_ns", "source": "python", "kind", "pid", ...fields}. Never throws; drops the line once the
// pipe is gone.
void emit(std::string_view kind, nlohmann::json fields);

uint64_t monotonic_ns();  // CLOCK_MONOTONIC, the clock bpf_ktime_get_ns uses

}  // namespace modelvet::harness
