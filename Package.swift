// swift-tools-version:6.1
import PackageDescription

/// Release builds drop the runtime exclusivity checks (the compile-time ones stay): on the
/// engines' hot paths — B+tree nodes and segment tables are class properties — they cost ~13% of
/// an index rebuild.
let performance: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "storebench",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "storebench", targets: ["storebench"]),
    ],
    traits: [
        .trait(
            name: "Jemalloc",
            description: "Links Debian's libjemalloc as the process allocator and reads its statistics (on by default; off for the Thread Sanitizer build, whose runtime must be the allocator)."
        ),
        .trait(
            name: "ReferenceEngines",
            description: "Adds sqlite, lmdb, rocksdb and leveldb (Debian's libsqlite3-dev, liblmdb-dev, librocksdb-dev, libleveldb-dev) as reference engines.",
            enabledTraits: ["Jemalloc"]
        ),
        .default(enabledTraits: ["Jemalloc"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        // Debian's libjemalloc (pkg-config `jemalloc`); linking it makes jemalloc the process allocator.
        .systemLibrary(
            name: "CJemalloc",
            pkgConfig: "jemalloc",
            providers: [.apt(["libjemalloc-dev", "pkg-config"])]
        ),
        // Store protocol, options, errors, metrics, the durable file layer, checksums, coding.
        .target(name: "StoreCore", dependencies: ["CHardwareCRC"], swiftSettings: performance),
        // The CPU's CRC-32C instruction, chosen at run time.
        .target(name: "CHardwareCRC"),
        .target(name: "ProcessMemory", dependencies: [.target(name: "CJemalloc", condition: .when(traits: ["Jemalloc"]))]),
        .target(name: "MemoryStore", dependencies: ["StoreCore"], swiftSettings: performance),
        .target(name: "AppendLog", dependencies: ["StoreCore"], exclude: ["FORMAT.md"], swiftSettings: performance),
        .target(name: "ChunkStore", dependencies: ["StoreCore"], exclude: ["FORMAT.md"], swiftSettings: performance),
        .target(name: "LSMTree", dependencies: ["StoreCore"], exclude: ["FORMAT.md"], swiftSettings: performance),
        // Every engine, looked up by name.
        // Reference engines: Debian's C libraries behind the same Store protocol (trait ReferenceEngines).
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CLMDB", pkgConfig: "lmdb", providers: [.apt(["liblmdb-dev"])]),
        .systemLibrary(name: "CRocksDB", pkgConfig: "rocksdb", providers: [.apt(["librocksdb-dev"])]),
        .systemLibrary(name: "CLevelDB", providers: [.apt(["libleveldb-dev"])]),
        .target(
            name: "ReferenceEngines",
            dependencies: [
                "StoreCore",
                .target(name: "CSQLite", condition: .when(traits: ["ReferenceEngines"])),
                .target(name: "CLMDB", condition: .when(traits: ["ReferenceEngines"])),
                .target(name: "CRocksDB", condition: .when(traits: ["ReferenceEngines"])),
                .target(name: "CLevelDB", condition: .when(traits: ["ReferenceEngines"])),
            ],
            exclude: ["DURABILITY.md"]
        ),
        .target(name: "Engines", dependencies: ["StoreCore", "MemoryStore", "AppendLog", "ChunkStore", "LSMTree", "ReferenceEngines"]),
        // Debian's libzstd and zlib: compressed traces are read as streams (`.zst`, `.gz`).
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "Workload", dependencies: ["StoreCore", "CZstd", "CZlib"], swiftSettings: performance),
        .target(
            name: "Replay",
            dependencies: ["StoreCore", "ProcessMemory", "Workload", "ResultsSchema", "FaultInjection", "MemoryStore",
                           .product(name: "Histogram", package: "hdrhistogram-swift")],
            swiftSettings: performance
        ),
        // results.json: the schema every producer and reader shares (SCHEMA.md), a leaf module.
        .target(name: "ResultsSchema", exclude: ["SCHEMA.md"]),
        .target(name: "Report", dependencies: ["StoreCore", "ResultsSchema"]),
        // File systems that inject faults under the durable file layer: power loss, I/O errors,
        // crash points. Used by `storebench crash --faults` and by the tests.
        .target(name: "FaultInjection", dependencies: ["StoreCore"]),
        .executableTarget(
            name: "storebench",
            dependencies: [
                "StoreCore", "Engines", "Replay", "Report", "ResultsSchema", "ProcessMemory", "Workload",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            plugins: ["BuildCommit"]
        ),
        // Stamps the checkout's commit into the executable at build time (`buildCommit`).
        .plugin(name: "BuildCommit", capability: .buildTool()),
        // The conformance suite and fixtures shared by the engine test targets.
        .target(name: "StoreTestSupport", dependencies: ["StoreCore", "MemoryStore", "FaultInjection", "ResultsSchema"]),
        .testTarget(name: "StoreCoreTests", dependencies: ["StoreCore", "StoreTestSupport"]),
        .testTarget(name: "MemoryStoreTests", dependencies: ["MemoryStore", "StoreTestSupport"]),
        .testTarget(name: "ReportTests", dependencies: ["Report", "ResultsSchema", "StoreTestSupport"]),
        // Fixtures: db_bench output captured from RocksDB's tool, read by path.
        .testTarget(name: "ReplayTests", dependencies: ["Replay", "Workload", "MemoryStore", "LSMTree", "StoreTestSupport", "ResultsSchema"],
                    exclude: ["Fixtures"]),
        // Writes a trace with RocksDB's own DB::StartTrace, for the binary RocksDB trace reader's tests.
        .target(
            name: "RocksDBTraceHelper",
            path: "Tests/RocksDBTraceHelper",
            linkerSettings: [.linkedLibrary("rocksdb", .when(traits: ["ReferenceEngines"]))]
        ),
        .testTarget(
            name: "WorkloadTests",
            dependencies: ["Workload", "StoreTestSupport", "MemoryStore", "CZstd", "CZlib",
                           .target(name: "RocksDBTraceHelper", condition: .when(traits: ["ReferenceEngines"]))]
        ),
        .testTarget(name: "AppendLogTests", dependencies: ["AppendLog", "StoreTestSupport", "FaultInjection", "ProcessMemory"]),
        .testTarget(name: "ChunkStoreTests", dependencies: ["ChunkStore", "StoreTestSupport"]),
        .testTarget(name: "LSMTreeTests", dependencies: ["LSMTree", "StoreTestSupport"]),
        // Runs the conformance suite against every registered engine; the executable is a
        // dependency so the lock test can open a store from a second process.
        .testTarget(name: "EngineConformanceTests", dependencies: ["storebench", "Engines", "StoreTestSupport", "FaultInjection"]),
        .testTarget(
            name: "StorebenchCLITests",
            dependencies: ["storebench", "Engines", "StoreCore", "StoreTestSupport", "ProcessMemory", "Report", "ResultsSchema", "Workload"]
        ),
    ],
    cxxLanguageStandard: .cxx17
)
