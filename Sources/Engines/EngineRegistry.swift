import AppendLog
import ChunkStore
import LSMTree
import MemoryStore
import ReferenceEngines
import StoreCore

/// Every engine storebench can run, looked up by name.
public enum EngineRegistry {
    /// Our engines, in the order reports list them.
    public static let ours: [EngineDescriptor] = [
        MemoryStore.descriptor,
        AppendLogStore.descriptor,
        ChunkStore.descriptor,
        LSMStore.descriptor,
    ]

    /// Reference engines built in (trait `ReferenceEngines`).
    public static let references: [EngineDescriptor] = ReferenceEngines.all

    /// Every registered engine.
    public static let all: [EngineDescriptor] = ours + references

    /// Names of all registered engines.
    public static var names: [String] { all.map(\.name) }

    /// The engine called `name`, or a variant of one written `cow[commit=journal]` (the engine
    /// with those settings, under that name). The engine checks the settings when it opens.
    /// - Throws: `StoreError.invalidArgument` listing the known names.
    public static func engine(named name: String) throws(StoreError) -> EngineDescriptor {
        let variant = try EngineVariant(parsing: name)
        guard let descriptor = all.first(where: { $0.name == variant.base }) else {
            throw .invalidArgument("unknown engine `\(variant.base)` (known: \(names.joined(separator: ", ")))")
        }
        return variant.apply(to: descriptor)
    }

    /// Resolves a comma-separated list such as `log,cow,cow[commit=journal]`, `all` (our engines)
    /// or `ref` (the reference engines built in).
    public static func engines(matching list: String) throws(StoreError) -> [EngineDescriptor] {
        let names = EngineVariant.splitList(list)
        guard !names.isEmpty else { throw .invalidArgument("no engine named in `\(list)`") }
        var result: [EngineDescriptor] = []
        for name in names {
            let chosen = name == "all" ? ours : (name == "ref" ? references : [try engine(named: name)])
            for descriptor in chosen where !result.contains(where: { $0.name == descriptor.name }) {
                result.append(descriptor)
            }
        }
        return result
    }

    /// Opens the store in `directory` with the engine its identity file names.
    public static func openExisting(directory: String, options: StoreOptions) throws -> any Store {
        let probe = StorageDirectory(path: directory, fileSystem: options.fileSystem, metrics: StoreMetrics())
        guard try probe.status(of: ".") != nil else {
            throw StoreError.notAStore(path: directory, reason: "the directory does not exist")
        }
        guard let identity = try StoreIdentity.read(from: probe) else {
            throw StoreError.notAStore(path: directory, reason: "it has no \(StoreIdentity.fileName) identity file")
        }
        var options = options
        options.createIfMissing = false
        return try engine(named: identity.engine).open(directory, options)
    }
}
