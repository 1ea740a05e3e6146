#pragma once
/// \file
/// Options declared once. An options struct lists its fields in one table,
/// \code
///   static constexpr auto fields() {
///     return std::tuple{field("dt", &RelaxOptions::dt, "step of euler and rk4", positive)};
///   }
/// \endcode
/// (name, member, one-line doc, check); the member's initializer is its one default. Validation
/// naming `section.field` (check_fields), the config file's reading and writing, `--help-all`
/// and `--set` (in the tool, cli/toml_fields.hpp) are all generated from that table, so a field
/// is added, renamed or documented in one place. Checks that tie several fields together stay in
/// the struct's is_valid(), after check_fields().
///
/// Enumerations name their values once too: specialise EnumNames<E> with {value, "name"} pairs,
/// and enum_name(), parse_enum() and the tool's TOML codec follow.
///
/// Boost.Describe would do this with reflection macros, but it needs Boost ≥ 1.77 (Debian 12
/// has 1.74); a small table per struct is as short and needs nothing.

#include <array>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/types.hpp"

namespace ebm {

// ---------------------------------------------------------------------------------------------
// Enumerations

/// Specialise with `static constexpr std::array<std::pair<E, std::string_view>, N> values`.
template <class E>
struct EnumNames;

template <class E>
concept NamedEnum = std::is_enum_v<E> && requires { EnumNames<E>::values; };

template <NamedEnum E>
std::string_view enum_name(E value) {
  for (const auto& [v, name] : EnumNames<E>::values)
    if (v == value) return name;
  return "?";
}

/// "a, b or c": the names a field accepts, for messages and help.
template <NamedEnum E>
std::string enum_choices() {
  std::string out;
  const auto& values = EnumNames<E>::values;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += i + 1 == values.size() ? " or " : ", ";
    out += values[i].second;
  }
  return out;
}

/// The value named `name`; InvalidOptions listing the choices otherwise.
template <NamedEnum E>
E parse_enum(std::string_view name) {
  for (const auto& [v, n] : EnumNames<E>::values)
    if (n == name) return v;
  throw InvalidOptions("unknown value '" + std::string(name) + "' (expected " + enum_choices<E>() + ")");
}

// ---------------------------------------------------------------------------------------------
// Checks: each returns "" for a good value, else what is wrong ("must be positive, got -1").

namespace checks {

struct None {
  template <class V>
  std::string operator()(const V&) const { return {}; }
};

namespace detail {
template <class... Parts>
std::string say(const Parts&... parts) {
  std::ostringstream o;
  (o << ... << parts);
  return o.str();
}
}  // namespace detail

/// > 0 and finite.
struct Positive {
  template <class V>
  std::string operator()(const V& v) const {
    if constexpr (std::is_floating_point_v<V>) {
      if (!(std::isfinite(v) && v > 0)) return detail::say("must be positive and finite, got ", v);
    } else if (!(v > 0)) {
      return detail::say("must be positive, got ", v);
    }
    return {};
  }
};

/// ≥ 0 and finite.
struct NonNegative {
  template <class V>
  std::string operator()(const V& v) const {
    if constexpr (std::is_floating_point_v<V>) {
      if (!(std::isfinite(v) && v >= 0)) return detail::say("must be finite and ≥ 0, got ", v);
    } else if (!(v >= 0)) {
      return detail::say("must be ≥ 0, got ", v);
    }
    return {};
  }
};

/// In [lo, hi) (or [lo, hi] with `closed`); finite.
struct InRange {
  double lo, hi;
  bool closed = false;
  template <class V>
  std::string operator()(const V& v) const {
    const double x = double(v);
    if (!(std::isfinite(x) && x >= lo && (closed ? x <= hi : x < hi)))
      return detail::say("must be in [", lo, ", ", hi, closed ? "]" : ")", ", got ", v);
    return {};
  }
};

/// In (lo, hi]: a gain or a rate that may be 1 but not 0.
struct InOpenClosed {
  double lo, hi;
  template <class V>
  std::string operator()(const V& v) const {
    const double x = double(v);
    if (!(std::isfinite(x) && x > lo && x <= hi)) return detail::say("must be in (", lo, ", ", hi, "], got ", v);
    return {};
  }
};

/// Every entry of a list passes `each`; the complaint names the entry.
template <class Each>
struct Every {
  Each each;
  template <class V>
  std::string operator()(const std::vector<V>& list) const {
    for (std::size_t i = 0; i < list.size(); ++i)
      if (std::string w = each(list[i]); !w.empty()) return detail::say("[", i, "] ", w);
    return {};
  }
};

/// Layer sizes: an input and an output layer at least, each ≥ 1 and at most 2^24 units, at most
/// 1000 layers and 2^31 parameters (beyond them a value is a typo or a hostile file).
struct LayerSizes {
  std::string operator()(const std::vector<Index>& sizes) const {
    if (sizes.size() < 2) return "needs at least an input and an output layer";
    if (sizes.size() > 1000) return detail::say("has ", sizes.size(), " layers, more than the limit of 1000");
    Index params = 0;
    for (std::size_t k = 0; k < sizes.size(); ++k) {
      if (sizes[k] < 1) return detail::say("[", k, "] must be ≥ 1, got ", sizes[k]);
      if (sizes[k] > (Index(1) << 24))
        return detail::say("[", k, "] = ", sizes[k], " is beyond the limit of ", Index(1) << 24, " units");
      if (k > 0) params += sizes[k] * (sizes[k - 1] + 1);  // < 2^49 each: no overflow
    }
    if (params > (Index(1) << 31))
      return detail::say("ask for ", params, " parameters, beyond the limit of ", Index(1) << 31);
    return {};
  }
};
}  // namespace checks

inline constexpr checks::Positive positive{};
inline constexpr checks::NonNegative non_negative{};

// ---------------------------------------------------------------------------------------------
// Fields

/// One field of an options struct S: its name in the config, the member, a one-line doc and a check.
template <class S, class V, class Check>
struct Field {
  using Struct = S;
  using Value = V;
  std::string_view name;
  V S::*member;
  std::string_view doc;
  Check check;

  V& of(S& s) const { return s.*member; }
  const V& of(const S& s) const { return s.*member; }
};

template <class S, class V, class Check = checks::None>
constexpr Field<S, V, Check> field(std::string_view name, V S::*member, std::string_view doc, Check check = {}) {
  return {name, member, doc, check};
}

/// A struct whose fields are declared (see the file comment).
template <class S>
concept HasFields = requires { S::fields(); };

/// Calls f(field) for every declared field of S, in declaration order.
template <HasFields S, class F>
void for_each_field(F&& f) {
  std::apply([&](const auto&... fs) { (f(fs), ...); }, S::fields());
}

/// Runs every field's check; on the first failure writes "prefix + name + ' ' + complaint" to
/// `why` (prefix "relax.free." gives "relax.free.dt must be positive and finite, got -1").
template <HasFields S>
bool check_fields(const S& s, std::string_view prefix, std::string* why) {
  bool ok = true;
  for_each_field<S>([&](const auto& f) {
    if (!ok) return;
    if (std::string w = f.check(f.of(s)); !w.empty()) {
      ok = false;
      if (why) *why = std::string(prefix) + std::string(f.name) + (w.front() == '[' ? "" : " ") + w;
    }
  });
  return ok;
}

/// The names of S's fields, "a, b, c" (for "unknown key" messages).
template <HasFields S>
std::string field_names() {
  std::string out;
  for_each_field<S>([&](const auto& f) {
    if (!out.empty()) out += ", ";
    out += f.name;
  });
  return out;
}

}  // namespace ebm
