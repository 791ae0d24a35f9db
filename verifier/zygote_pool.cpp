#include "verifier/zygote_pool.h"

namespace modelvet {

std::shared_ptr<sandbox::Zygote> ZygotePool::for_loader(const std::string& loader, std::string* error) {
  std::lock_guard lock(mu_);
  if (auto f = failed_.find(loader); f != failed_.end()) {
    *error = f->second;
    return nullptr;
  }
  auto& slot = live_[loader];
  if (slot && slot->healthy()) return slot;
  if (slot) ++replaced_;  // died or misbehaved: a new one, from scratch
  // Started under the lock: concurrent first files of one loader wait for one zygote, not many.
  slot = sandbox::Zygote::exec(loader, {exe_, "__zygote", "--loader", loader}, error);
  if (!slot) {
    failed_[loader] = *error;
    live_.erase(loader);
    return nullptr;
  }
  ++started_;
  return slot;
}

nlohmann::json ZygotePool::stats() const {
  std::lock_guard lock(mu_);
  nlohmann::json live = nlohmann::json::array();
  for (const auto& [loader, z] : live_)
    if (z) live.push_back({{"loader", loader}, {"pid", z->pid()}, {"jails", z->jails_forked()}});
  nlohmann::json failed = nlohmann::json::object();
  for (const auto& [loader, why] : failed_) failed[loader] = why;
  return {{"started", started_}, {"replaced", replaced_}, {"live", live}, {"failed", failed}};
}

}  // namespace modelvet
