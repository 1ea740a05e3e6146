#pragma once
/// \file
/// Little-endian binary writing and bounds-checked reading, for checkpoints. A reader never
/// trusts a size it reads: every read is checked against the bytes that remain, and the error
/// names the file and the field, so a corrupt checkpoint is a clear DataError, not a crash.

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/error.hpp"
#include "core/types.hpp"

namespace ebm {

static_assert(std::endian::native == std::endian::little, "ebm checkpoints assume a little-endian machine");

/// Appends fields to a byte string.
class ByteWriter {
 public:
  template <class V>
    requires std::is_arithmetic_v<V>
  void put(V v) {
    bytes_.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void put_string(std::string_view s) {
    put<std::uint64_t>(s.size());
    bytes_.append(s);
  }
  template <class T>
  void put_vector(const Vector<T>& v) {
    put<std::uint64_t>(std::uint64_t(v.size()));
    bytes_.append(reinterpret_cast<const char*>(v.data()), std::size_t(v.size()) * sizeof(T));
  }
  /// `n` values without a size (the reader knows how many to expect).
  template <class V>
    requires std::is_arithmetic_v<V>
  void put_raw(const V* data, std::size_t n) {
    bytes_.append(reinterpret_cast<const char*>(data), n * sizeof(V));
  }
  const std::string& bytes() const { return bytes_; }
  std::string& bytes() { return bytes_; }

 private:
  std::string bytes_;
};

/// Reads fields back; `source` names the file in error messages.
class ByteReader {
 public:
  ByteReader(std::string_view bytes, std::string source) : bytes_(bytes), source_(std::move(source)) {}

  template <class V>
    requires std::is_arithmetic_v<V>
  V get(std::string_view field) {
    V v;
    need(sizeof v, field);
    std::memcpy(&v, bytes_.data() + pos_, sizeof v);
    pos_ += sizeof v;
    return v;
  }
  std::string get_string(std::string_view field, std::size_t max_size = 1 << 24) {
    const auto n = get<std::uint64_t>(field);
    require<DataError>(n <= max_size, source_, ": field '", field, "' claims ", n, " bytes (corrupt)");
    need(std::size_t(n), field);
    std::string s(bytes_.substr(pos_, std::size_t(n)));
    pos_ += std::size_t(n);
    return s;
  }
  /// A vector whose length must be `expected` (or anything when expected < 0).
  template <class T>
  Vector<T> get_vector(std::string_view field, Index expected = -1) {
    const auto n = get<std::uint64_t>(field);
    require<DataError>(expected < 0 || n == std::uint64_t(expected), source_, ": field '", field, "' has ", n,
                       " entries, expected ", expected);
    require<DataError>(n <= remaining() / sizeof(T), source_, ": field '", field, "' claims ", n,
                       " entries but only ", remaining(), " bytes remain (truncated or corrupt)");
    Vector<T> v(static_cast<Index>(n));
    if (n > 0) std::memcpy(v.data(), bytes_.data() + pos_, std::size_t(n) * sizeof(T));
    pos_ += std::size_t(n) * sizeof(T);
    return v;
  }
  /// `n` values written by ByteWriter::put_raw, into `out`.
  template <class V>
    requires std::is_arithmetic_v<V>
  void get_raw(V* out, std::size_t n, std::string_view field) {
    need(n * sizeof(V), field);
    if (n > 0) std::memcpy(out, bytes_.data() + pos_, n * sizeof(V));
    pos_ += n * sizeof(V);
  }
  std::size_t remaining() const { return bytes_.size() - pos_; }
  const std::string& source() const { return source_; }

 private:
  void need(std::size_t n, std::string_view field) const {
    require<DataError>(n <= remaining(), source_, ": ends in field '", field, "' (needs ", n, " bytes, ", remaining(),
                       " remain; truncated or corrupt)");
  }
  std::string_view bytes_;
  std::string source_;
  std::size_t pos_ = 0;
};

}  // namespace ebm
