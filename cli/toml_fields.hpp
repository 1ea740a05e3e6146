#pragma once
/// \file
/// Declared fields (core/fields.hpp) to and from TOML: one generic reader, writer and help
/// printer serve every options struct, so the config schema exists once, in the structs.
///
/// Value types: floating point, integers (range-checked: a value the member cannot hold is an
/// error, not a wrap-around), bool, std::string, a NamedEnum, a class with `static V parse(sv)`
/// and `name()` (Activation), and std::vector of numbers.

#include <toml++/toml.h>

#include <cstdint>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/fields.hpp"

namespace ebm::cli {

template <class V>
concept ParsedByName = requires(const V& v, std::string_view s) {
  { V::parse(s) } -> std::convertible_to<V>;
  { v.name() } -> std::convertible_to<std::string_view>;
};

/// Reads one TOML node into `out`; `field` names it in errors ("relax.free.dt").
template <class V>
void read_value(const toml::node& n, V& out, const std::string& field) {
  if constexpr (std::is_same_v<V, bool>) {
    auto v = n.value_exact<bool>();
    if (!v) throw InvalidOptions(field + " must be true or false");
    out = *v;
  } else if constexpr (std::is_floating_point_v<V>) {
    if (auto d = n.value_exact<double>()) out = V(*d);
    else if (auto i = n.value_exact<std::int64_t>()) out = V(*i);
    else throw InvalidOptions(field + " must be a number");
  } else if constexpr (std::is_integral_v<V>) {
    auto v = n.value_exact<std::int64_t>();
    if (!v) throw InvalidOptions(field + " must be an integer");
    if constexpr (std::is_unsigned_v<V>)
      if (*v < 0) throw InvalidOptions(field + " must be ≥ 0, got " + std::to_string(*v));
    // A value the field cannot hold would wrap silently (4294967297 threads would be 1).
    if (!std::in_range<V>(*v)) throw InvalidOptions(field + " = " + std::to_string(*v) + " is out of range");
    out = V(*v);
  } else if constexpr (std::is_same_v<V, std::string>) {
    auto v = n.value_exact<std::string>();
    if (!v) throw InvalidOptions(field + " must be a string");
    out = *v;
  } else if constexpr (NamedEnum<V> || ParsedByName<V>) {
    auto v = n.value_exact<std::string>();
    if (!v) {
      if constexpr (NamedEnum<V>) throw InvalidOptions(field + " must be a string, one of " + enum_choices<V>());
      else throw InvalidOptions(field + " must be a string");
    }
    try {
      if constexpr (NamedEnum<V>) out = parse_enum<V>(*v);
      else out = V::parse(*v);
    } catch (const InvalidOptions& e) {
      throw InvalidOptions(field + ": " + e.what());
    }
  } else {
    // std::vector of numbers.
    using E = typename V::value_type;
    const toml::array* a = n.as_array();
    if (!a) throw InvalidOptions(field + " must be an array");
    V values;
    for (std::size_t i = 0; i < a->size(); ++i) {
      E e{};
      read_value(*a->get(i), e, field + "[" + std::to_string(i) + "]");
      values.push_back(e);
    }
    out = std::move(values);
  }
}

/// Inserts `v` into `t` under `key`.
template <class V>
void write_value(toml::table& t, std::string_view key, const V& v) {
  if constexpr (std::is_same_v<V, bool> || std::is_same_v<V, std::string>) {
    t.insert_or_assign(key, v);
  } else if constexpr (std::is_floating_point_v<V>) {
    t.insert_or_assign(key, double(v));
  } else if constexpr (std::is_integral_v<V>) {
    t.insert_or_assign(key, std::int64_t(v));  // seeds ≥ 2^63 do not fit TOML: written wrapped
  } else if constexpr (NamedEnum<V>) {
    t.insert_or_assign(key, std::string(enum_name(v)));
  } else if constexpr (ParsedByName<V>) {
    t.insert_or_assign(key, std::string(v.name()));
  } else {
    toml::array a;
    for (const auto& e : v) {
      if constexpr (std::is_floating_point_v<typename V::value_type>) a.push_back(double(e));
      else a.push_back(std::int64_t(e));
    }
    t.insert_or_assign(key, std::move(a));
  }
}

/// A value as the config file would spell it (for --help-all).
template <class V>
std::string spell_value(const V& v) {
  toml::table t;
  write_value(t, "x", v);
  std::ostringstream o;
  o << t;
  std::string s = o.str();
  const std::size_t eq = s.find("= ");
  return eq == std::string::npos ? s : s.substr(eq + 2);
}

/// Reads one TOML table field by field, remembering which keys it consumed so that the rest can
/// be reported as unknown, naming the section ("unknown config key 'model.gamma'").
class TableReader {
 public:
  TableReader(const toml::table* table, std::string prefix) : table_(table), prefix_(std::move(prefix)) {}

  const std::string& prefix() const { return prefix_; }
  std::string field(std::string_view key) const { return prefix_ + std::string(key); }

  /// The node under `key` (marked as consumed), or nullptr.
  const toml::node* find(std::string_view key) {
    seen_.insert(std::string(key));
    return table_ ? table_->get(key) : nullptr;
  }

  template <class V>
  void get(std::string_view key, V& out) {
    if (const toml::node* n = find(key)) read_value(*n, out, field(key));
  }

  /// Every declared field of S that the table holds.
  template <HasFields S>
  void read(S& s) {
    for_each_field<S>([&](const auto& f) { get(f.name, f.of(s)); });
  }

  /// Throws for the first key of the table that nothing asked for; `owner` says whose keys these
  /// are ("model.kind = \"layered_hopfield\"") and `known` lists them, for the message.
  void reject_unknown(const std::string& owner = {}, const std::string& known = {}) const {
    if (!table_) return;
    for (const auto& [key, node] : *table_) {
      const std::string k(key.str());
      if (seen_.count(k)) continue;
      std::string message = "unknown config key '" + field(k) + "'";
      if (!owner.empty()) message += ": not an option of " + owner;
      if (!known.empty()) message += " (its options: " + known + ")";
      throw InvalidOptions(message);
    }
  }

 private:
  const toml::table* table_;
  std::string prefix_;
  std::set<std::string> seen_;
};

/// Every declared field of `s` into `t` (defaults included: the run's full record).
template <HasFields S>
void write_fields(const S& s, toml::table& t) {
  for_each_field<S>([&](const auto& f) { write_value(t, f.name, f.of(s)); });
}

/// "  section.name = default   doc" for every declared field (--help-all).
template <HasFields S>
void help_fields(std::ostream& out, std::string_view section, const S& defaults = S{}) {
  for_each_field<S>([&](const auto& f) {
    std::string line = "  " + std::string(section) + std::string(f.name) + " = " + spell_value(f.of(defaults));
    if (line.size() < 44) line.resize(44, ' ');
    out << line << "  " << f.doc << '\n';
  });
}

}  // namespace ebm::cli
