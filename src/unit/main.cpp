// portier-unit: the agent on a door unit. `enroll` exchanges a one-time code for the unit's
// credential; `run` keeps the unit connected and drives its doors; `show` prints what the
// unit knows (its access list) from its state directory, without the server.
#include <signal.h>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <iostream>
#include <optional>

#include "client/rest.hpp"
#include "core/fields.hpp"
#include "crypto/crypto.hpp"
#include "unit/agent.hpp"

namespace {

using namespace portier;
using namespace portier::unit;
namespace json = boost::json;

std::atomic<bool> g_stop{false};

int enroll(const std::string& server, const std::string& code, const std::string& dir,
           const std::string& ca) {
  client::RestClient rest(server, ca);
  auto r = rest.request("POST", "/v1/enroll", json::object{{"code", code}});
  if (!r) {
    std::cerr << "portier-unit enroll: " << r.error().message << "\n";
    return 1;
  }
  if (r->status != 200) {
    std::string code_name = "error", message = r->raw;
    // The server's answer is untrusted: read what is there, never throw on its shape.
    if (const auto* e = r->body.is_object() ? r->body.as_object().if_contains("error") : nullptr;
        e && e->is_object()) {
      if (auto c = str_field(e->as_object(), "code"); !c.empty()) code_name = c;
      if (auto m = str_field(e->as_object(), "message"); !m.empty()) message = m;
    }
    std::cerr << "portier-unit enroll: " << message << " (" << code_name << ", HTTP " << r->status
              << ")\n";
    return r->status == 429 ? 9 : 1;
  }
  Identity id;
  id.server = server;
  if (r->body.is_object()) {
    id.unit_id = str_field(r->body.as_object(), "unit_id");
    id.credential = str_field(r->body.as_object(), "token");
  }
  if (id.unit_id.empty() || id.credential.empty()) {
    std::cerr << "portier-unit enroll: the server's answer has no unit_id or token: " << r->raw
              << "\n";
    return 1;
  }
  id.ca_file = ca;
  if (auto s = save_identity(dir, id); !s) {
    std::cerr << "portier-unit enroll: " << s.error().message << "\n";
    return 1;
  }
  std::cout << "enrolled as unit " << id.unit_id << "; credential saved in " << dir
            << "/unit.json\n";
  return 0;
}

// The unit's identity and state from its directory; prints why not for `verb`.
std::optional<std::pair<Identity, std::unique_ptr<State>>> open_unit(const std::string& dir,
                                                                     const char* verb) {
  auto id = load_identity(dir);
  auto state = id ? State::open(dir) : Result<std::unique_ptr<State>>(id.error());
  if (!state) {
    std::cerr << "portier-unit " << verb << ": " << state.error().message << "\n";
    return std::nullopt;
  }
  return std::make_pair(std::move(*id), std::move(*state));
}

int run(const std::string& dir, DriverConfig driver_config, AgentOptions options) {
  auto unit = open_unit(dir, "run");
  if (!unit) return 1;
  auto& [identity, state] = *unit;
  if (driver_config.sim_dir.empty()) driver_config.sim_dir = dir + "/sim";
  auto driver = make_driver(driver_config);
  if (!driver) {
    std::cerr << "portier-unit run: " << driver.error().message << "\n";
    return 1;
  }
  struct sigaction sa {};
  sa.sa_handler = [](int) { g_stop = true; };
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  spdlog::info("unit {}: driver {}, server {}, {} event(s) waiting to be sent", identity.unit_id,
               (*driver)->name(), identity.server, state->pending_events());
  Agent agent(identity, *state, **driver, std::move(options));
  auto why = agent.run(g_stop);
  if (why.empty()) {
    spdlog::info("stopped");
    return 0;
  }
  std::cerr << "portier-unit: the server refused this unit (" << why
            << "); enroll it again with a new code\n";
  return 3;
}

int show(const std::string& dir) {
  auto unit = open_unit(dir, "show");
  if (!unit) return 1;
  auto& [identity, state] = *unit;
  auto replicas = state->load();
  std::string feed = "unit/" + identity.unit_id;
  json::object out{{"unit_id", identity.unit_id}, {"server", identity.server}};
  auto it = replicas.find(feed);
  json::object by_kind;
  for (const char* k : {"unit", "site", "door", "user", "schedule", "grant"})
    by_kind[std::string(k) + "s"] = json::array();
  if (it != replicas.end()) {
    out["feed"] =
        json::object{{"feed", feed}, {"epoch", it->second.epoch}, {"seq", it->second.seq}};
    for (const auto& [key, rec] : it->second.records) {
      auto kind = key.substr(0, key.find(':')) + "s";
      if (by_kind.contains(kind)) by_kind[kind].as_array().push_back(rec);
    }
  } else {
    out["feed"] = nullptr;
  }
  for (auto& [k, v] : by_kind) out[k] = v;
  out["pending_events"] = state->pending_events();
  std::cout << json::serialize(out) << "\n";
  return 0;
}

Result<std::map<std::string, GpioLine>> parse_lines(const std::vector<std::string>& specs) {
  std::map<std::string, GpioLine> out;
  for (const auto& s : specs) {
    auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0)
      return Error{400, "bad_gpio", "expected DOOR_ID=CHIP:LINE[:active-low], got " + s, ""};
    auto line = parse_gpio_line(s.substr(eq + 1));
    if (!line) return line.error();
    out[s.substr(0, eq)] = *line;
  }
  return out;
}

}  // namespace

// Exceptions only at start-up (STYLE.md): one escaping main ends the process, as it should.
// NOLINTNEXTLINE(bugprone-exception-escape)
int main(int argc, char** argv) {
  if (!portier::crypto_init()) {
    std::cerr << "portier-unit: libsodium failed to initialize\n";
    return 1;
  }
  spdlog::set_default_logger(spdlog::stderr_color_mt("portier-unit"));
  CLI::App app{"portier-unit: the agent on a door unit"};
  app.require_subcommand(1);
  app.set_config("--config", "", "read options from this TOML file ([run] section for run)");
  std::string server, code, dir, ca;
  auto* enroll_cmd = app.add_subcommand("enroll", "exchange an enrollment code for a credential");
  enroll_cmd->add_option("--server", server, "the server, e.g. https://portier.example.com")
      ->required();
  enroll_cmd->add_option("--code", code, "the enrollment code an admin issued")->required();
  enroll_cmd->add_option("--state", dir, "state directory (credential, replica, events)")
      ->required();
  enroll_cmd->add_option("--ca", ca, "trust this CA certificate (PEM) for https");
  auto* run_cmd = app.add_subcommand("run", "stay connected and drive the doors");
  run_cmd->add_option("--state", dir, "state directory")->required();
  DriverConfig driver;
  AgentOptions options;
  std::vector<std::string> relays, sensors;
  int held_open_seconds = 30, command_timeout_ms = 10000;
  run_cmd->add_option("--driver", driver.kind, "sim (default), gpio or command")
      ->check(CLI::IsMember({"sim", "gpio", "command"}));
  run_cmd->add_option("--sim-dir", driver.sim_dir,
                      "sim: where relay.log and DOOR_ID.door live (default STATE/sim)");
  run_cmd->add_option("--relay", relays, "gpio: DOOR_ID=CHIP:LINE[:active-low] (repeat per door)");
  run_cmd->add_option("--sensor", sensors,
                      "gpio: a door sensor, DOOR_ID=CHIP:LINE[:active-low]; active = open");
  run_cmd->add_option("--command", driver.command,
                      "command: executable run as EXE pulse DOOR_ID PULSE_MS");
  run_cmd
      ->add_option("--command-timeout-ms", command_timeout_ms,
                   "command: kill the executable after this long (default 10000)")
      ->check(CLI::PositiveNumber);
  run_cmd
      ->add_option("--held-open-after", held_open_seconds,
                   "seconds a door may stay open before door_held_open (default 30)")
      ->check(CLI::PositiveNumber);
  run_cmd->add_option("--name", options.name, "the name admins see for this unit's connection");
  auto* show_cmd = app.add_subcommand("show", "print the unit's offline state as JSON");
  show_cmd->add_option("--state", dir, "state directory")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // bad flags: 2 (docs/operations.md), not CLI11's own codes
  }
  if (*enroll_cmd) return enroll(server, code, dir, ca);
  if (*show_cmd) return show(dir);
  auto r = parse_lines(relays);
  auto s = parse_lines(sensors);
  if (!r || !s) {
    std::cerr << "portier-unit run: " << (!r ? r.error() : s.error()).message << "\n";
    return 2;
  }
  driver.relays = *r;
  driver.sensors = *s;
  driver.command_timeout = std::chrono::milliseconds(command_timeout_ms);
  options.held_open_after = std::chrono::seconds(held_open_seconds);
  return run(dir, driver, options);
}
