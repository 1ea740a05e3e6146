#pragma once
/// \file
/// Keeps freed heap memory in the process instead of handing it back to the kernel after every
/// minibatch (glibc only; elsewhere a no-op).
///
/// Why: a minibatch's relaxations allocate and free about 400 KB of scratch per chunk (the state's
/// gradient, the stationarity work space, the systems' copies of the drive). glibc returns the
/// top of a heap to the kernel once more than M_TRIM_THRESHOLD (128 KiB by default) is free there,
/// and the next chunk faults every page back in, zeroed: measured, 80 000 page faults and 0.4 s
/// of a 2 s epoch. glibc raises its thresholds by itself after a large block served by mmap is
/// freed, which Eigen's GEMM packing buffers used to trigger; the products no longer pack
/// (core/unpacked_product.hpp), so the trainer sets them. Process-wide and once: up to 64 MiB of
/// freed memory stays mapped, and blocks below 32 MiB come from the heap rather than from mmap
/// (which would fault them in afresh on every use).

#include <mutex>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace ebm {

inline void retain_freed_heap() {
#if defined(__GLIBC__)
  static std::once_flag once;
  std::call_once(once, [] {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
  });
#endif
}

}  // namespace ebm
