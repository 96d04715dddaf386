// portierd: the server. `init` creates an organization; `serve` serves the API.
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <filesystem>
#include <iostream>
#include <thread>

#include "bus/local_bus.hpp"
#include "crypto/crypto.hpp"
#include "server/api.hpp"
#include "server/bootstrap.hpp"
#include "server/clock.hpp"
#include "server/doors.hpp"
#include "server/http/http_server.hpp"
#include "server/http/upgrade.hpp"
#include "server/invitation_sweeper.hpp"
#include "server/memory_trim.hpp"
#include "server/push/gateway.hpp"
#include "server/static_files.hpp"
#include "store/sqlite_store.hpp"
#include "sync/fanout.hpp"

namespace {

using namespace portier;

Instant now() { return whole_seconds(system_clock()()); }

std::unique_ptr<SqliteStore> open_store(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    std::cerr << "portierd: cannot create data directory " << dir << ": " << ec.message() << "\n";
    return nullptr;
  }
  ::chmod(dir.c_str(), 0700);
  auto store = SqliteStore::open(dir + "/portier.db");
  if (!store) {
    std::cerr << "portierd: " << store.error().message << "\n";
    return nullptr;
  }
  return std::move(*store);
}

int init(const std::string& dir, const std::string& org, const std::string& email,
         const std::string& name, bool password_stdin) {
  if (!password_stdin) {
    std::cerr
        << "portierd init: pass the owner's password on standard input with --password-stdin\n";
    return 2;
  }
  std::string password;
  std::getline(std::cin, password);
  auto store = open_store(dir);
  if (!store) return 1;
  auto owner = create_org(*store, org, email, name.empty() ? email : name, password, now());
  if (!owner) {
    std::cerr << "portierd init: " << owner.error().message
              << (owner.error().field.empty() ? "" : " (" + owner.error().field + ")") << "\n";
    return 1;
  }
  std::cout << "created organization \"" << org << "\" with owner " << email << "\n";
  return 0;
}

struct Retention {
  std::int64_t keep = 10000;
  std::chrono::hours max_age{24 * 30};
  int every_seconds = 60;
};

int serve(const std::string& dir, const std::string& listen, bool demo, unsigned threads,
          Retention retention, GatewayOptions gateway_options, const HttpOptions& http_options,
          DoorsOptions doors_options, const ApiOptions& api_options, const std::string& web_root) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) {
    std::cerr << "portierd serve: --listen is HOST:PORT\n";
    return 2;
  }
  std::string host = listen.substr(0, colon), port = listen.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  // Connections are descriptors: use all the system allows (the caps keep a reserve free).
  spdlog::info("open files limit: {}", raise_fd_limit());
  auto store = open_store(dir);
  if (!store) return 1;
  std::string demo_logins;
  if (demo) {
    auto d = seed_demo(*store, dir, now());
    if (!d) {
      std::cerr << "portierd: demo: " << d.error().message << "\n";
      return 1;
    }
    demo_logins = *d;
  }
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  boost::asio::io_context ioc(static_cast<int>(threads));
  // Store calls and password hashing block: they run here, never on the io threads.
  boost::asio::thread_pool workers(std::max(4u, threads * 2));
  Metrics metrics;
  LocalBus bus;
  DeviceRegistry devices;
  // One clock for the API, the gateway and the door service.
  Clock clock = system_clock();
  Api api(*store, bus, metrics, api_options, clock);
  api.set_devices(&devices);
  // Guests' invitations end on time: when a guest's last grant runs out, her sessions close.
  InvitationSweeper invitations(*store, bus, [clock] { return whole_seconds(clock()); });
  bus.subscribe(&invitations);
  invitations.start();
  Doors doors(
      *store, bus,
      [&workers](std::function<void()> fn) { boost::asio::post(workers, std::move(fn)); },
      doors_options, clock);
  doors.set_metrics(&metrics);
  // Opens a crash (kill -9, power cut) left between decision and answer get their outcome
  // before anything is served.
  auto settled = doors.settle_interrupted();
  if (!settled) {
    std::cerr << "portierd: settling interrupted opens: " << settled.error().message << "\n";
    return 1;
  }
  if (*settled > 0)
    spdlog::warn(
        "settled {} open(s) left without an outcome by the last stop (audit: door.open, "
        "result unknown or not_sent)",
        *settled);
  api.set_doors(&doors);
  // The gateway serves the apps' opens and the units' events through the door service; the
  // door service reaches the units' sessions through the bus.
  Gateway gateway(*store, workers, ioc.get_executor(), devices, doors, &metrics, gateway_options,
                  clock);
  bus.subscribe(&gateway);
  // Large fan-outs are written as feed rows here, once the gateway has handed them out, in
  // short transactions (the write that made them has committed and published them; doors
  // keep opening meanwhile).
  sync::FanOut fanout(*store, [&gateway] { return gateway.delivering(); });
  fanout.start();
  // What a burst freed goes back to the OS once the process grew (glibc would keep it).
  MemoryTrim trim(std::chrono::seconds(2), std::int64_t{64} << 20, &metrics);
  trim.start();
  metrics.gauge("portier_push_sessions",
                [&gateway] { return static_cast<double>(gateway.sessions()); });
  StaticFiles web(web_root);
  if (web.built())
    spdlog::info("web console and app from {}", web.root());
  else
    spdlog::warn("no built web console in {}: / says so (build web/, or pass --web-root DIR)",
                 web.root());
  HttpServer server(
      ioc, workers,
      [&api, &web, &metrics](const Request& r, Respond respond) {
        if (!StaticFiles::handles(r.target)) return api.handle(r, std::move(respond));
        auto started = std::chrono::steady_clock::now();
        Response res = web.serve(r);
        res.route = "/(web)";
        metrics.observe(res.route, r.method, res.status,
                        std::chrono::steady_clock::now() - started);
        respond(std::move(res));
      },
      http_options);
  server.set_metrics(&metrics);
  server.count_upgraded([&gateway] { return gateway.sessions(); });
  server.on_upgrade("/v1/stream",
                    [&gateway](std::unique_ptr<Upgrade> up) { gateway.accept(std::move(up)); });
  // Feed retention: history past the newest `feed_keep` changes or older than `feed_max_age`
  // goes; cursors from before it get a snapshot.
  boost::asio::steady_timer prune_timer(ioc);
  std::function<void()> schedule_prune = [&] {
    prune_timer.expires_after(std::chrono::seconds(retention.every_seconds));
    prune_timer.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      boost::asio::post(workers, [&] {
        auto cutoff = now() - retention.max_age;
        if (auto s = store->prune_feeds(retention.keep, cutoff.time_since_epoch().count()); !s)
          spdlog::warn("pruning feeds: {}", s.error().message);
        // Fresh statistics as the data grows, so every lookup keeps its index.
        if (auto s = store->optimize(); !s) spdlog::warn("optimizing: {}", s.error().message);
      });
      schedule_prune();
    });
  };
  schedule_prune();
  auto bound = server.listen(host, port);
  if (!bound) {
    std::cerr << "portierd: " << bound.error().message << "\n";
    return 1;
  }
  boost::asio::signal_set signals(ioc, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: draining", sig);
    prune_timer.cancel();
    gateway.stop();
    server.stop();
  });
  std::string shown_host = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  std::string base = (http_options.tls_cert.empty() ? "http://" : "https://") + shown_host + ":" +
                     std::to_string(*bound);
  if (!demo_logins.empty())
    std::cout << "demo organization \"Demo Org\" (site HQ, Europe/Madrid); logins:\n"
              << demo_logins;
  if (demo && web.built())
    std::cout << "console (owner): " << base << "/\napp (members): " << base << "/app/\n";
  std::cout << "listening on " << base << std::endl;
  std::vector<std::thread> io;
  for (unsigned i = 1; i < threads; ++i) io.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : io) t.join();
  workers.join();
  invitations.stop();
  fanout.stop();
  spdlog::info("stopped");
  return 0;
}

}  // namespace

// Exceptions only at start-up (STYLE.md): one escaping main ends the process, as it should.
// NOLINTNEXTLINE(bugprone-exception-escape)
int main(int argc, char** argv) {
  if (!portier::crypto_init()) {
    std::cerr << "portierd: libsodium failed to initialize\n";
    return 1;
  }
  spdlog::set_default_logger(spdlog::stderr_color_mt("portierd"));
  CLI::App app{"portierd: the portier server"};
  app.require_subcommand(1);
  std::string dir = "data", org, email, name, listen = "127.0.0.1:8080";
  std::string web_root = PORTIER_WEB_ROOT;
  bool password_stdin = false, demo = false;
  unsigned threads = 0;
  auto* init_cmd =
      app.add_subcommand("init", "create the data store, an organization and its owner");
  init_cmd->add_option("--data", dir, "data directory")->required();
  init_cmd->add_option("--org", org, "organization name")->required();
  init_cmd->add_option("--email", email, "owner's email")->required();
  init_cmd->add_option("--name", name, "owner's name (default: the email)");
  init_cmd->add_flag("--password-stdin", password_stdin,
                     "read the owner's password from standard input");
  auto* serve_cmd = app.add_subcommand("serve", "serve the API");
  serve_cmd->add_option("--data", dir, "data directory")->required();
  serve_cmd->add_option("--listen", listen, "HOST:PORT to listen on (port 0: any free port)");
  serve_cmd->add_flag("--demo", demo, "seed a demo organization on first start");
  serve_cmd->add_option("--threads", threads, "io threads (default: one per core)");
  serve_cmd->add_option("--web-root", web_root,
                        "serve the web console and app from this built directory (default: " +
                            std::string(PORTIER_WEB_ROOT) + ")");
  Retention retention;
  int max_age_hours = 24 * 30;
  serve_cmd->add_option("--feed-keep", retention.keep, "changes kept per feed (default 10000)")
      ->check(CLI::PositiveNumber);
  serve_cmd
      ->add_option("--feed-prune-every", retention.every_seconds,
                   "seconds between prunes (default 60)")
      ->check(CLI::PositiveNumber);
  GatewayOptions gw;
  HttpOptions http;
  serve_cmd->add_option("--tls-cert", http.tls_cert,
                        "serve HTTPS and WSS with this certificate chain (PEM)");
  serve_cmd->add_option("--tls-key", http.tls_key, "the certificate's private key (PEM)");
  int hello_timeout = 10, idle_timeout = 60;
  serve_cmd
      ->add_option("--ws-queue-budget", gw.queue_budget_bytes,
                   "unsent bytes per push session before it is closed (default 4 MiB)")
      ->check(CLI::PositiveNumber);
  serve_cmd
      ->add_option("--ws-hello-timeout", hello_timeout, "seconds to wait for hello (default 10)")
      ->check(CLI::PositiveNumber);
  serve_cmd
      ->add_option("--ws-idle-timeout", idle_timeout,
                   "seconds of silence before closing (default 60)")
      ->check(CLI::PositiveNumber);
  serve_cmd->add_option("--ws-max-sessions-per-token", gw.max_sessions_per_token,
                        "live push sessions per token; past it the oldest is closed; 0: no cap "
                        "(default 32)");
  serve_cmd->add_option("--feed-max-age", max_age_hours, "hours a change is kept (default 720)")
      ->check(CLI::PositiveNumber);
  int open_timeout_ms = 5000;
  serve_cmd
      ->add_option("--open-timeout-ms", open_timeout_ms,
                   "how long an open waits for the door's unit (default 5000)")
      ->check(CLI::Range(100, 60000));
  ApiOptions api;
  serve_cmd
      ->add_option("--max-connections", http.max_connections,
                   "open connections (HTTP and push) before new ones are refused "
                   "(default: the open-files limit less 64)")
      ->check(CLI::PositiveNumber);
  serve_cmd->add_option(
      "--max-connections-per-address", http.max_connections_per_address,
      "HTTP connections per remote address before new ones are refused; 0: no cap (default 512)");
  serve_cmd
      ->add_option("--metrics-token", api.metrics_token,
                   "GET /metrics requires Authorization: Bearer TOKEN (also from "
                   "PORTIER_METRICS_TOKEN, which other users cannot see in the process list)")
      ->envname("PORTIER_METRICS_TOKEN");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // bad flags: 2, like every portier command
  }
  if (*init_cmd) return init(dir, org, email, name, password_stdin);
  retention.max_age = std::chrono::hours(max_age_hours);
  gw.hello_timeout = std::chrono::seconds(hello_timeout);
  gw.idle_timeout = std::chrono::seconds(idle_timeout);
  if (http.tls_cert.empty() != http.tls_key.empty()) {
    std::cerr << "portierd serve: --tls-cert and --tls-key go together\n";
    return 2;
  }
  DoorsOptions doors;
  doors.open_timeout = std::chrono::milliseconds(open_timeout_ms);
  return serve(dir, listen, demo, threads, retention, gw, http, doors, api, web_root);
}
