#pragma once
// The human tables of each scenario, printed from the same JSON the bench emits.

#include <boost/json.hpp>
#include <cstdio>

namespace portier::bench {

void print_setup(std::FILE* out, const boost::json::object& setup);
void print_fanout(std::FILE* out, const boost::json::object& f);
void print_edits(std::FILE* out, const boost::json::object& e);
void print_open(std::FILE* out, const boost::json::object& o);
void print_idle(std::FILE* out, const boost::json::object& i);
void print_storm(std::FILE* out, const boost::json::object& s);

// How many figures in the JSON (warm-up runs included) report a loss: lost, misdelivered or
// failed writes above 0. A run passes only when this is 0.
std::int64_t figures_with_losses(const boost::json::value& v);

}  // namespace portier::bench
