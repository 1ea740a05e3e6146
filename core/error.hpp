#pragma once
/// \file
/// The exceptions ebm throws. Each message names what was wrong (the option,
/// the dimension, the step and example of a divergence), so that a user can act on it.

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace ebm {

/// Base class of every error ebm reports.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// An options struct failed validation; the message names the field.
class InvalidOptions : public Error {
 public:
  using Error::Error;
};

/// Matrices whose shapes do not fit the model.
class DimensionMismatch : public Error {
 public:
  using Error::Error;
};

/// Where a relaxation went wrong: what a program needs to act on a divergence (the trainer
/// translates `example` into the training set's numbering), with -1 for what is not known.
struct DivergenceSite {
  long step = -1;     ///< the relaxation's step (0: the initial state)
  double t = 0;       ///< its time
  long example = -1;  ///< the example's number (the batch's first_example plus the column)
  long layer = -1;    ///< 1-based layer of the state
  long unit = -1;     ///< unit within the layer
  double value = 0;   ///< the offending entry (non-finite, or beyond the divergence bound)
};

/// A relaxation produced a non-finite or exploding state. The message is for people; `site()`
/// carries the same facts as fields, so that no caller parses the text.
class DivergenceError : public Error {
 public:
  explicit DivergenceError(const std::string& message, DivergenceSite site = {}) : Error(message), site_(site) {}
  const DivergenceSite& site() const { return site_; }

 private:
  DivergenceSite site_;
};

/// A file that is missing, unreadable or not in the expected format; the message names the file.
class DataError : public Error {
 public:
  using Error::Error;
};

/// A part of a require() message computed only when the message is: require() takes its parts
/// as arguments, so a part such as a model's describe() (a formatted string) would otherwise be
/// built on every call, in a relaxation's every step. Use: require(ok, "…", lazy([&] { return … })).
template <class F>
struct LazyPart {
  F make;
  friend std::ostream& operator<<(std::ostream& o, const LazyPart& p) { return o << p.make(); }
};
template <class F>
LazyPart<F> lazy(F make) {
  return {std::move(make)};
}

/// Throws `E` with the streamed message when `ok` is false.
template <class E = Error, class... Parts>
void require(bool ok, const Parts&... parts) {
  if (ok) return;
  std::ostringstream message;
  (message << ... << parts);
  throw E(message.str());
}

}  // namespace ebm
