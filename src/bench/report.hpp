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

// Every loss (lost, misdelivered, failed writes) anywhere in the JSON, warm-ups included: a
// run passes only when this is 0 (counts may overlap; only zero matters).
std::int64_t total_lost(const boost::json::value& v);

}  // namespace portier::bench
