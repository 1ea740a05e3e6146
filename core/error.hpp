#pragma once
/// \file
/// The exceptions ebm throws. Each message names what was wrong (the option,
/// the dimension, the step and example of a divergence), so that a user can act on it.

#include <sstream>
#include <stdexcept>
#include <string>

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

/// A relaxation produced a non-finite or exploding state.
class DivergenceError : public Error {
 public:
  using Error::Error;
};

/// A file that is missing, unreadable or not in the expected format; the message names the file.
class DataError : public Error {
 public:
  using Error::Error;
};

/// Throws `E` with the streamed message when `ok` is false.
template <class E = Error, class... Parts>
void require(bool ok, const Parts&... parts) {
  if (ok) return;
  std::ostringstream message;
  (message << ... << parts);
  throw E(message.str());
}

}  // namespace ebm
