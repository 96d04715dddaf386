#include "server/invitation_sweeper.hpp"

#include <spdlog/spdlog.h>

#include <string_view>

#include "server/invitations.hpp"

namespace portier {

InvitationSweeper::InvitationSweeper(Store& store, Bus& bus, Clock clock,
                                     std::chrono::seconds max_wait)
    : store_(store),
      bus_(bus),
      clock_(clock ? std::move(clock) : Clock([] {
        return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
      })),
      max_wait_(max_wait) {}

InvitationSweeper::~InvitationSweeper() { stop(); }

void InvitationSweeper::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void InvitationSweeper::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void InvitationSweeper::wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

void InvitationSweeper::on_changes(const sync::FeedChanges& changes) {
  // Every change of an organization passes through its org/ feed; the kind is near the start
  // of the body ({"op":"delete","kind":"grant",…}), so this reads a few bytes per change.
  for (const auto& c : *changes) {
    if (c.feed.rfind("org/", 0) != 0 || !c.body) continue;
    std::string_view head(*c.body);
    if (head.substr(0, 40).find(R"("kind":"grant")") != std::string_view::npos) return wake();
  }
}

Result<InvitationSweeper::Pass> InvitationSweeper::sweep(Instant now) {
  Pass pass;
  std::vector<std::pair<std::string, std::string>> over;
  auto st = store_.read([&](ReadTx& tx) -> Status {
    auto guests = tx.guests_signed_in(now.time_since_epoch().count());
    if (!guests) return guests.error();
    for (const auto& [org, user] : *guests) {
      auto access = guest_access(tx, org, user, now);
      if (!access) return access.error();
      if (!access->active)
        over.emplace_back(org, user);
      else if (access->ends && (!pass.next || *access->ends < *pass.next))
        pass.next = access->ends;
    }
    return ok();
  });
  if (!st) return st.error();
  for (const auto& o : over) {
    // Named, not bound: clang 14 (clang-tidy) cannot capture structured bindings.
    const std::string& org = o.first;
    const std::string& user = o.second;
    // Decided again inside the write: an admin may have given her more time meanwhile.
    auto s = store_.write([&](WriteTx& tx) -> Status {
      auto revoke = end_invitation_if_over(tx, org, user, now, "", "expired");
      if (!revoke) return revoke.error();
      if (!*revoke) return ok();
      ++pass.ended;
      tx.on_commit([this, r = **revoke] { bus_.publish_revocation(r); });
      return ok();
    });
    if (!s) return s.error();
  }
  return pass;
}

void InvitationSweeper::run() {
  for (;;) {
    Instant now = clock_();
    auto pass = sweep(now);
    Instant until = now + max_wait_;
    if (!pass)
      spdlog::warn("ending invitations: {}", pass.error().message);
    else if (pass->next && *pass->next < until)
      until = *pass->next;
    if (pass && pass->ended) spdlog::info("ended {} guest invitation(s) on time", pass->ended);
    std::unique_lock lock(mu_);
    // The clock is in whole seconds: a grant ending at T is over once T has begun.
    cv_.wait_until(lock, std::chrono::system_clock::time_point(until),
                   [this] { return stopping_ || woken_; });
    if (stopping_) return;
    woken_ = false;
  }
}

}  // namespace portier
