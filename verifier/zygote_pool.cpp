#include "verifier/zygote_pool.h"

#include <signal.h>

#include <future>

namespace modelvet {

ZygotePool::~ZygotePool() {
  {
    std::lock_guard lock(mu_);
    live_.clear();
  }
  {
    std::lock_guard lock(launch_mu_);
    stopping_ = true;
  }
  launch_cv_.notify_all();
  if (launcher_.joinable()) launcher_.join();
}

void ZygotePool::launcher_loop() {
  // Like the workers: signals are the main thread's business.
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  std::unique_lock lock(launch_mu_);
  while (true) {
    launch_cv_.wait(lock, [&] { return stopping_ || pending_; });
    if (!pending_) return;  // stopping, nothing left to start
    auto job = std::move(pending_);
    pending_ = nullptr;
    lock.unlock();
    job();
    lock.lock();
  }
}

std::unique_ptr<sandbox::Zygote> ZygotePool::on_launcher(const std::function<std::unique_ptr<sandbox::Zygote>()>& start) {
  std::promise<std::unique_ptr<sandbox::Zygote>> done;
  auto result = done.get_future();
  {
    std::lock_guard lock(launch_mu_);
    if (!launcher_.joinable()) launcher_ = std::thread([this] { launcher_loop(); });
    pending_ = [&] { done.set_value(start()); };
  }
  launch_cv_.notify_all();
  return result.get();
}

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
  std::string why;
  slot = on_launcher([&] { return sandbox::Zygote::exec(loader, {exe_, "__zygote", "--loader", loader}, &why); });
  if (!slot) {
    *error = why;
    failed_[loader] = why;
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
