#include "store/store.hpp"

namespace portier {

std::string_view kind_name(Kind k) {
  switch (k) {
    case Kind::site:
      return "site";
    case Kind::door:
      return "door";
    case Kind::unit:
      return "unit";
    case Kind::user:
      return "user";
    case Kind::schedule:
      return "schedule";
    case Kind::grant:
      return "grant";
    case Kind::group:
      return "group";
  }
  return "?";
}

std::string_view kind_plural(Kind k) {
  switch (k) {
    case Kind::site:
      return "sites";
    case Kind::door:
      return "doors";
    case Kind::unit:
      return "units";
    case Kind::user:
      return "users";
    case Kind::schedule:
      return "schedules";
    case Kind::grant:
      return "grants";
    case Kind::group:
      return "groups";
  }
  return "?";
}

const char* kind_id_prefix(Kind k) {
  return k == Kind::schedule ? "sched" : kind_name(k).data();  // kind names are literals
}

std::optional<Kind> kind_from_plural(std::string_view plural) {
  for (Kind k : kAllKinds)
    if (kind_plural(k) == plural) return k;
  return std::nullopt;
}

}  // namespace portier
