#pragma once
// One jail's recording: the events the reader threads dispatched to it, its cgroup hooks,
// and, once finished, its final counters. Internal to the tracer; callers hold it opaquely.
#include <bpf/libbpf.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tracer/record_decoder.h"
#include "tracer/trace_records.h"
#include "tracer/tracer.h"

namespace modelvet::tracer {

struct FoldKeyHash {
  size_t operator()(const mv_fold_key& k) const { return k.path_hash ^ (uint64_t{k.tgid} << 32) ^ (uint64_t{k.nr} << 16) ^ k.flags ^ k.cgroup_id; }
};
struct FoldKeyEq {
  bool operator()(const mv_fold_key& a, const mv_fold_key& b) const { return memcmp(&a, &b, sizeof(a)) == 0; }
};

class Session {
 public:
  // Records kept per ring beyond which a session only counts (a flood must not exhaust memory).
  static constexpr std::array<uint64_t, MV_RING_COUNT> kMaxKept = {200000, 100000};

  Session(uint64_t cgroup_id, RedirectTarget redirect) : cgroup_id_(cgroup_id), redirect_(redirect) {}
  ~Session() { detach_hooks(); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  uint64_t cgroup_id() const { return cgroup_id_; }
  const RedirectTarget& redirect() const { return redirect_; }

  void add(DecodedRecord d, int ring) {
    std::lock_guard lock(mu_);
    if (finished_) return;
    if (kept_[ring] >= kMaxKept[ring]) {
      ++capped_[ring];
      return;
    }
    ++kept_[ring];
    if (d.fold_key) {
      hashed_paths_.emplace(d.fold_key->path_hash, d.event.data.value("path", ""));
      fold_firsts_[*d.fold_key] = raw_.size();  // the latest emission holds the kernel's count
    } else if (d.path_hash) {
      hash_refs_.emplace_back(raw_.size(), d.path_hash);
    }
    raw_.push_back(std::move(d.event));
  }

  // True (and counted) when the ring's share of the session is full: the record is not kept.
  bool count_if_capped(int ring) {
    std::lock_guard lock(mu_);
    if (finished_ || kept_[ring] < kMaxKept[ring]) return false;
    ++capped_[ring];
    return true;
  }

  void add_hook(bpf_link* link) { links_.push_back(link); }
  void detach_hooks() {
    for (bpf_link* l : links_) bpf_link__destroy(l);
    links_.clear();
  }

  // Counters: from the kernel's per-jail entry (emitted/dropped), its repeat counts (folded)
  // and our own cap.
  Stats make_stats(const mv_watch& kernel, uint64_t folded, uint64_t events) const {
    std::lock_guard lock(mu_);
    Stats s;
    s.events = events;
    static constexpr const char* names[] = {"high", "bulk"};
    s.per_buffer = nlohmann::json::object();
    for (int r = 0; r < MV_RING_COUNT; ++r) {
      s.dropped += kernel.dropped[r] + capped_[r];
      s.per_buffer[names[r]] = {{"emitted", kernel.emitted[r]}, {"dropped", kernel.dropped[r]},
                                {"capped", capped_[r]}, {"kept", kept_[r]}};
    }
    // Repeats whose first event was not kept are lost with it.
    s.dropped += unattached_repeats_;
    s.per_buffer["bulk"]["folded"] = folded;
    s.per_buffer["bulk"]["folded_unattached"] = unattached_repeats_;
    return s;
  }

  // Ends the session: no more events are accepted; returns those gathered, the first open of
  // each folded key with its `repeats`, and mmaps of folded fds with their path.
  Events close(const std::vector<std::pair<mv_fold_key, uint64_t>>& folds) {
    std::lock_guard lock(mu_);
    finished_ = true;
    for (const auto& [key, count] : folds) {
      if (count == 0) continue;
      auto it = fold_firsts_.find(key);
      if (it == fold_firsts_.end()) unattached_repeats_ += count;
      else raw_[it->second].data["repeats"] = count;
    }
    for (const auto& [index, hash] : hash_refs_) {
      auto it = hashed_paths_.find(hash);
      if (it != hashed_paths_.end()) raw_[index].data["path"] = it->second;
    }
    return std::move(raw_);
  }
  bool finished() const {
    std::lock_guard lock(mu_);
    return finished_;
  }
  void set_final_stats(Stats s) {
    std::lock_guard lock(mu_);
    final_stats_ = std::move(s);
  }
  Stats final_stats() const {
    std::lock_guard lock(mu_);
    return final_stats_;
  }

 private:
  const uint64_t cgroup_id_;
  const RedirectTarget redirect_;
  std::vector<bpf_link*> links_;
  mutable std::mutex mu_;
  Events raw_;
  std::array<uint64_t, MV_RING_COUNT> kept_{}, capped_{};
  // Folding: the first event of each key, paths by hash, and mmaps naming a folded fd.
  std::unordered_map<mv_fold_key, size_t, FoldKeyHash, FoldKeyEq> fold_firsts_;
  std::unordered_map<uint64_t, std::string> hashed_paths_;
  std::vector<std::pair<size_t, uint64_t>> hash_refs_;
  uint64_t unattached_repeats_ = 0;
  bool finished_ = false;
  Stats final_stats_;
};

}  // namespace modelvet::tracer
