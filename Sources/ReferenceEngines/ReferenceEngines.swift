import StoreCore

/// Debian's storage libraries behind the same `Store` protocol, so our strategies are measured
/// beside the engines users already know, in one run with one harness. Built with the package
/// trait `ReferenceEngines` (`swift build --traits ReferenceEngines`); without it the list is
/// empty and storebench builds without the libraries.
public enum ReferenceEngines {
    public static var all: [EngineDescriptor] {
        #if ReferenceEngines
        [SQLiteStore.descriptor, LMDBStore.descriptor, RocksDBStore.descriptor, LevelDBStore.descriptor]
        #else
        []
        #endif
    }
}
