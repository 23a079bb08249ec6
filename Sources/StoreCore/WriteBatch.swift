/// An ordered list of puts and deletes applied all-or-nothing by `Store.apply(_:)`, also across a
/// crash. When a key appears twice, the later operation wins.
public struct WriteBatch: Sendable, Equatable {
    public enum Operation: Sendable, Equatable {
        case put(key: [UInt8], value: [UInt8])
        case delete(key: [UInt8])

        public var key: [UInt8] {
            switch self {
            case let .put(key, _), let .delete(key): return key
            }
        }
    }

    public private(set) var operations: [Operation] = []
    /// Sum of key and value sizes: what the user asked the engine to write.
    public private(set) var userBytes = 0

    public init() {}

    public init(_ operations: [Operation]) {
        for operation in operations { append(operation) }
    }

    public var count: Int { operations.count }
    public var isEmpty: Bool { operations.isEmpty }

    public mutating func put(_ key: [UInt8], _ value: [UInt8]) {
        append(.put(key: key, value: value))
    }

    public mutating func delete(_ key: [UInt8]) {
        append(.delete(key: key))
    }

    public mutating func append(_ operation: Operation) {
        operations.append(operation)
        switch operation {
        case let .put(key, value): userBytes += key.count + value.count
        case let .delete(key): userBytes += key.count
        }
    }

    public mutating func removeAll() {
        operations.removeAll(keepingCapacity: true)
        userBytes = 0
    }

    /// Checks every key and value against `StoreLimits` before anything is applied, so a batch
    /// with one oversized entry changes nothing.
    public func validate() throws(StoreError) {
        for operation in operations {
            switch operation {
            case let .put(key, value):
                try StoreLimits.check(keySize: key.count)
                try StoreLimits.check(valueSize: value.count)
            case let .delete(key):
                try StoreLimits.check(keySize: key.count)
            }
        }
    }
}
