// portier-bench: simulated devices at scale against portierd, Mosquitto and a raw floor
// (docs/benchmarks.md). `worker` and `floor` are the bench's own child processes.
#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <cstdio>
#include <iostream>

#include "bench/floor.hpp"
#include "bench/proc.hpp"
#include "bench/report.hpp"
#include "bench/scenarios.hpp"
#include "bench/worker.hpp"

#ifndef PORTIERD_BIN
#define PORTIERD_BIN "portierd"
#endif

namespace json = boost::json;
using namespace portier::bench;

// Exceptions only at start-up (STYLE.md): one escaping main ends the process, as it should.
// NOLINTNEXTLINE(bugprone-exception-escape)
int main(int argc, char** argv) {
  CLI::App app{
      "portier-bench: push latency, open latency, memory and reconnect storms of "
      "portierd at scale, beside Mosquitto and a raw floor"};
  app.require_subcommand(1);
  app.fallthrough();
  Options o;
  o.portierd = PORTIERD_BIN;
  o.mosquitto = "/usr/sbin/mosquitto";
  bool json_out = false;
  app.add_option("--portierd", o.portierd, "portierd to start (default: this build's)");
  app.add_option("--mosquitto", o.mosquitto, "mosquitto to start");
  app.add_option(
      "--portierd-flag", o.portierd_flags,
      "an extra flag for `portierd serve` (repeatable; e.g. --portierd-flag=--threads=2)");
  app.add_option("--workers", o.workers, "worker processes (default: from the fd limit and cores)");
  app.add_option("--threads", o.threads, "io threads per worker")->check(CLI::Range(1, 64));
  auto* repeat = app.add_option("--repeat", o.repeat, "runs per fanout figure (medians)")
                     ->check(CLI::Range(1, 1000));
  auto* loss = app.add_option("--loss-timeout", o.loss_timeout_s,
                              "seconds after the write's answer before a delivery counts lost");
  app.add_option("--per-address", o.per_address, "sessions per loopback source address")
      ->check(CLI::Range(1, 28000));
  app.add_option("--backoff-ms", o.backoff_ms, "reconnect backoff base (the protocol's: 100)");
  app.add_option("--ack-delay-ms", o.ack_delay_ms,
                 "device sessions ack this long after a change, and up to as long again at "
                 "random, coalesced (the SDK's: 250; 0: each at once)")
      ->check(CLI::Range(0, 10000));
  app.add_option("--ack-spread-ms", o.ack_spread_ms,
                 "the random part of that wait: up to this much longer (default: as long as "
                 "--ack-delay-ms, as the SDK; 0: all at the delay exactly)")
      ->check(CLI::Range(0, 10000));
  app.add_flag("--api-seed", o.api_seed, "seed user by user even when POST /v1/import exists");
  app.add_flag("--keep", o.keep, "keep the temporary data and logs");
  app.add_flag("--smoke", o.smoke, "every scenario at N = 50, briefly (the CTest smoke run)");
  app.add_flag("--json", json_out, "print one JSON object with every figure (tables go to stderr)");

  auto* all = app.add_subcommand("all", "every scenario with its defaults");
  auto* fanout =
      app.add_subcommand("fanout", "one admin edit reaching N sessions, beside the peers");
  auto* fan_n =
      fanout->add_option("--n", o.fanout_n, "session counts (default 1000,5000,10000,19000)")
          ->delimiter(',');
  fanout
      ->add_option("--targets", o.targets,
                   "what to measure: portier, mosquitto, floor (default all three)")
      ->delimiter(',')
      ->check(CLI::IsMember({"portier", "mosquitto", "floor"}));
  fanout->add_option("--bytes", o.bytes,
                     "the peers' payload size (default: portier's change frame, else 430)");
  auto* edits = app.add_subcommand("edits", "sustained edits, each to one user among N");
  auto* edits_n = edits->add_option("--n", o.edits_n, "sessions (default 1000)");
  auto* edits_rate = edits->add_option("--rate", o.edits_rate, "edits per second (default 50)");
  auto* edits_s = edits->add_option("--seconds", o.edits_seconds, "how long (default 10)");
  auto* open = app.add_subcommand("open", "app -> server -> unit -> app round trips");
  auto* open_units = open->add_option("--units", o.open_units, "simulated units (default 10)");
  auto* open_apps = open->add_option("--apps", o.open_apps, "app sessions opening (default 20)");
  auto* open_rate = open->add_option("--rate", o.open_rate, "opens per second (default 500)");
  auto* open_s = open->add_option("--seconds", o.open_seconds, "opens alone for (default 5)");
  auto* open_n = open->add_option("--during-n", o.open_during_n,
                                  "sessions of the fan-out the opens run during (default 10000)");
  auto* open_edits = open->add_option("--during-edits", o.open_edits,
                                      "schedule edits the opens run during, a second apart "
                                      "(default 5)")
                         ->check(CLI::Range(1, 1000));
  auto* idle = app.add_subcommand("idle", "memory and CPU of N idle sessions");
  auto* idle_n =
      idle->add_option("--n", o.idle_n, "session counts (default 19000)")->delimiter(',');
  auto* idle_s =
      idle->add_option("--seconds", o.idle_seconds,
                       "CPU window (default 30: the server pings each session every 30 s)");
  auto* settle =
      idle->add_option("--settle", o.settle_seconds, "wait after connecting (default 2)");
  auto* storm = app.add_subcommand("storm", "restart portierd under N sessions, warm and cold");
  auto* storm_n = storm->add_option("--n", o.storm_n, "sessions (default 10000)");

  int threads = 1;
  auto* worker = app.add_subcommand("worker", "")->group("");
  worker->add_option("--threads", threads);
  auto* floor = app.add_subcommand("floor", "")->group("");
  CLI11_PARSE(app, argc, argv);

  if (worker->parsed()) return worker_main(threads);
  if (floor->parsed()) return floor_main();
  cleanup_on_interrupt();

  if (o.smoke) {
    auto set = [](CLI::Option* opt, auto& field, auto value) {
      if (opt->count() == 0) field = value;
    };
    set(fan_n, o.fanout_n, std::vector<std::size_t>{50});
    set(repeat, o.repeat, 2);
    set(loss, o.loss_timeout_s, 20.0);
    set(edits_n, o.edits_n, std::size_t{50});
    set(edits_rate, o.edits_rate, 20.0);
    set(edits_s, o.edits_seconds, 1.0);
    set(open_units, o.open_units, std::size_t{2});
    set(open_apps, o.open_apps, std::size_t{4});
    set(open_rate, o.open_rate, 50.0);
    set(open_s, o.open_seconds, 1.0);
    set(open_n, o.open_during_n, std::size_t{50});
    set(open_edits, o.open_edits, 2);
    set(idle_n, o.idle_n, std::vector<std::size_t>{50});
    set(idle_s, o.idle_seconds, 1.0);
    set(settle, o.settle_seconds, 0.3);
    set(storm_n, o.storm_n, std::size_t{50});
  }
  bool every = all->parsed();
  auto on = [&](CLI::App* sub) { return every || sub->parsed(); };
  std::size_t most = 0;
  if (on(fanout))
    for (auto n : o.fanout_n) most = std::max(most, n);
  if (on(edits)) most = std::max(most, o.edits_n);
  if (on(open)) most = std::max(most, o.open_during_n + o.open_units + o.open_apps);
  if (on(idle))
    for (auto n : o.idle_n) most = std::max(most, n);
  if (on(storm)) most = std::max(most, o.storm_n);

  std::FILE* tables = json_out ? stderr : stdout;
  json::object result;
  json::array errors;
  try {
    Run run(o, most);
    auto attempt = [&](const char* name, auto fn) {
      try {
        fn();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "portier-bench: %s failed: %s\n", name, e.what());
        errors.push_back(json::object{{"scenario", name}, {"error", e.what()}});
      }
    };
    if (on(fanout)) {
      json::array list;
      for (auto n : o.fanout_n)
        attempt("fanout", [&] {
          list.push_back(run.fanout(n));
          print_fanout(tables, list.back().as_object());
        });
      result["fanout"] = std::move(list);
    }
    if (on(edits))
      attempt("edits", [&] {
        result["edits"] = run.edits();
        print_edits(tables, result["edits"].as_object());
      });
    if (on(open))
      attempt("open", [&] {
        result["open"] = run.open();
        print_open(tables, result["open"].as_object());
      });
    if (on(idle)) {
      json::array list;
      for (auto n : o.idle_n)
        attempt("idle", [&] {
          list.push_back(run.idle(n));
          print_idle(tables, list.back().as_object());
        });
      result["idle"] = std::move(list);
    }
    if (on(storm))
      attempt("storm", [&] {
        result["storm"] = run.storm();
        print_storm(tables, result["storm"].as_object());
      });
    auto setup = run.setup();
    std::fputs("\n", tables);
    print_setup(tables, setup);
    result["setup"] = std::move(setup);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "portier-bench: %s\n", e.what());
    errors.push_back(json::object{{"scenario", "setup"}, {"error", e.what()}});
  }
  auto lossy = figures_with_losses(result);
  result["figures_with_losses"] = lossy;
  result["errors"] = errors;
  result["ok"] = lossy == 0 && errors.empty();
  if (json_out) std::cout << json::serialize(result) << std::endl;
  if (!errors.empty()) return 3;
  if (lossy != 0) {
    std::fprintf(stderr, "portier-bench: %lld figures report lost messages or opens (see lost)\n",
                 static_cast<long long>(lossy));
    return 1;
  }
  return 0;
}
