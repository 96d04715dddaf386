#include "server/push/gateway.hpp"

#include <boost/json.hpp>

#include "server/http/upgrade.hpp"
#include "server/push/commands.hpp"
#include "server/push/hub.hpp"
#include "server/push/session.hpp"

namespace portier {
namespace json = boost::json;

namespace {
constexpr std::uint16_t kGoingAway = 1001;
}

Gateway::Gateway(Store& store, boost::asio::thread_pool& workers,
                 const boost::asio::any_io_executor& io, DeviceRegistry& devices,
                 DoorService& doors, Metrics* metrics, GatewayOptions options, Clock clock) {
  auto hub = std::make_shared<push::Hub>(io, devices,
                                         push::HubOptions{options.max_sessions_per_token}, metrics);
  auto commands = std::make_shared<push::PendingCommands>(io);
  push::SessionOptions so;
  so.max_message_bytes = options.max_message_bytes;
  so.queue_budget_bytes = options.queue_budget_bytes;
  so.hello_timeout = options.hello_timeout;
  so.idle_timeout = options.idle_timeout;
  auto& h = *hub;
  auto& c = *commands;
  shared_ = std::make_shared<push::Shared>(push::Shared{
      std::move(hub), std::move(commands), workers, so,
      push::Services{
          store, devices, doors, h, c, metrics,
          push::ProtocolOptions{options.queue_budget_bytes, options.max_feeds, options.fetch_batch},
          clock ? std::move(clock) : system_clock()},
      metrics});
}

Gateway::~Gateway() = default;

void Gateway::accept(std::unique_ptr<Upgrade> up) {
  if (stopping_) return;
  push::start_session(std::move(up), shared_);
}

void Gateway::stop() {
  stopping_ = true;
  shared_->hub->end_all(kGoingAway, "shutting_down");
}

std::size_t Gateway::sessions() const { return shared_->hub->size(); }

bool Gateway::delivering() const { return shared_->hub->delivering(); }

void Gateway::on_changes(const sync::FeedChanges& changes) { shared_->hub->publish(changes); }

void Gateway::on_revocation(const Revocation& r) { shared_->hub->revoke(r); }

void Gateway::on_event(const std::string& feed, std::shared_ptr<const std::string> message) {
  shared_->hub->push_to_feed(feed, message);
}

bool Gateway::on_command(const UnitCommand& cmd, const CommandDone& done) {
  auto unit = shared_->hub->unit_session(cmd.unit_id);
  if (!unit) return false;
  shared_->commands->add(cmd, done, unit.get());
  unit->push(std::make_shared<const std::string>(
      json::serialize(json::object{{"type", "command"},
                                   {"id", cmd.id},
                                   {"door", cmd.door_id},
                                   {"pulse_ms", cmd.pulse_ms},
                                   {"expires_at", cmd.expires_at}})));
  return true;
}

}  // namespace portier
