#ifndef STOREBENCH_ROCKSDB_TRACE_HELPER_H
#define STOREBENCH_ROCKSDB_TRACE_HELPER_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Opens a RocksDB database at `db_path`, traces a fixed sequence of operations with
/// `DB::StartTrace` into `trace_path` and ends the trace: gets, puts, a write batch with a delete,
/// a single delete and a merge, a put into a second column family, iterator seeks (forward and
/// for-prev) and a multiget. Returns 0, or -1 with the reason in `error`.
int storebench_write_rocksdb_trace(const char *db_path, const char *trace_path, char *error, size_t error_size);

#ifdef __cplusplus
}
#endif

#endif
