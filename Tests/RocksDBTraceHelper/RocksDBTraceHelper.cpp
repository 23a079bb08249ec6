// A trace written by RocksDB itself, for the binary RocksDB trace reader's tests.
#include "RocksDBTraceHelper.h"

#include <cstdio>
#include <string>

#if __has_include(<rocksdb/db.h>)
#include <memory>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/iterator.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/options.h>
#include <rocksdb/trace_reader_writer.h>
#include <rocksdb/write_batch.h>

namespace {

// Merges by concatenation: the trace only needs merges to be accepted.
class Append : public rocksdb::AssociativeMergeOperator {
public:
    bool Merge(const rocksdb::Slice &, const rocksdb::Slice *existing, const rocksdb::Slice &value, std::string *result,
               rocksdb::Logger *) const override {
        result->assign(existing ? existing->ToString() : std::string());
        result->append(value.data(), value.size());
        return true;
    }
    const char *Name() const override { return "storebench.append"; }
};

int fail(const rocksdb::Status &status, const char *what, char *error, size_t size) {
    std::snprintf(error, size, "%s: %s", what, status.ToString().c_str());
    return -1;
}

}  // namespace

extern "C" int storebench_write_rocksdb_trace(const char *db_path, const char *trace_path, char *error, size_t error_size) {
    rocksdb::Options options;
    options.create_if_missing = true;
    options.merge_operator = std::make_shared<Append>();
    rocksdb::DB *raw = nullptr;
    rocksdb::Status status = rocksdb::DB::Open(options, db_path, &raw);
    if (!status.ok()) return fail(status, "open", error, error_size);
    std::unique_ptr<rocksdb::DB> db(raw);
    rocksdb::ColumnFamilyHandle *family = nullptr;
    status = db->CreateColumnFamily(rocksdb::ColumnFamilyOptions(options), "second", &family);
    if (!status.ok()) return fail(status, "create column family", error, error_size);

    std::unique_ptr<rocksdb::TraceWriter> writer;
    status = rocksdb::NewFileTraceWriter(rocksdb::Env::Default(), rocksdb::EnvOptions(), trace_path, &writer);
    if (!status.ok()) return fail(status, "trace writer", error, error_size);
    status = db->StartTrace(rocksdb::TraceOptions(), std::move(writer));
    if (!status.ok()) return fail(status, "start trace", error, error_size);

    rocksdb::WriteOptions write;
    rocksdb::ReadOptions read;
    std::string value;
    db->Put(write, "alpha", std::string(100, 'a'));
    db->Put(write, "beta", std::string(2000, 'b'));
    db->Get(read, "alpha", &value);
    rocksdb::WriteBatch batch;
    batch.Put("gamma", std::string(30, 'g'));
    batch.Delete("alpha");
    batch.SingleDelete("beta");
    batch.Merge("delta", std::string(7, 'd'));
    db->Write(write, &batch);
    db->Put(write, family, "epsilon", std::string(5, 'e'));
    db->Delete(write, "gamma");
    {
        std::unique_ptr<rocksdb::Iterator> iterator(db->NewIterator(read));
        iterator->Seek("b");
        iterator->SeekForPrev("z");
    }
    std::vector<rocksdb::Slice> keys = {"alpha", "beta", "delta"};
    std::vector<std::string> values;
    db->MultiGet(read, keys, &values);
    db->Get(read, family, "epsilon", &value);

    status = db->EndTrace();
    if (!status.ok()) return fail(status, "end trace", error, error_size);
    db->DestroyColumnFamilyHandle(family);
    return 0;
}

#else

extern "C" int storebench_write_rocksdb_trace(const char *, const char *, char *error, size_t error_size) {
    std::snprintf(error, error_size, "built without RocksDB's headers");
    return -1;
}

#endif
