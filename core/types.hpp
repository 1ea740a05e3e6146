#pragma once
/// \file
/// Basic types shared by every part of ebm.
///
/// A batch of network states is one matrix, units × batch, column-major:
/// each column is one example, and a relaxation step is matrix–matrix work.

#include <Eigen/Dense>
#include <string>
#include <vector>

namespace ebm {

using Index = Eigen::Index;

template <class T> using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
template <class T> using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;
template <class T> using RowVector = Eigen::Matrix<T, 1, Eigen::Dynamic>;

/// Read-only view of a matrix or of a block of one (no copy for column or row blocks).
template <class T> using ConstRef = Eigen::Ref<const Matrix<T>>;
/// Writable view of a matrix or of a block of one.
template <class T> using MutRef = Eigen::Ref<Matrix<T>>;
template <class T> using VectorRef = Eigen::Ref<Vector<T>>;

/// A contiguous range of rows of the state: one layer, or the output units.
struct Block {
  Index offset = 0;
  Index size = 0;
  friend bool operator==(const Block&, const Block&) = default;
};

/// Where one parameter tensor lives inside a model's flat parameter vector.
/// A weight matrix is stored column-major, `rows × cols` starting at `offset`.
struct ParamBlock {
  std::string name;
  Index offset = 0;
  Index rows = 0;
  Index cols = 1;
  Index size() const { return rows * cols; }
};

}  // namespace ebm
