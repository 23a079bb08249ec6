import StoreCore

/// YCSB's core workload as a stream of operations: a load phase of `recordcount` inserts, then
/// `operationcount` operations drawn from the `*proportion` weights, with keys from the
/// `requestdistribution` — YCSB's own definitions (scrambled zipfian 0.99, skewed latest,
/// hotspot, sequential, exponential, uniform) and key names (`user` + FNV-hashed number).
///
/// Extensions (Workloads/README.md): `deleteproportion`, `batchsize` (writes grouped into atomic
/// batches), `keysize` (zero-padded key length), `valuesizedistribution`/`minvaluesize`.
public struct YCSBGenerator: OperationSource {
    enum Action { case read, update, insert, scan, readModifyWrite, delete }

    enum KeyChooser {
        case uniform(lower: Int64, count: Int64)
        case zipfian(YCSB.ScrambledZipfian)
        case latest(YCSB.Zipfian)
        case hotspot(YCSB.Hotspot)
        case sequential(start: Int64, count: Int64, next: Int64)
        case exponential(YCSB.Exponential)
    }

    enum SizeChooser {
        case constant(Int)
        case uniform(Int, Int)
        case zipfian(YCSB.Zipfian)
    }

    public let header: TraceHeader
    let recordCount: Int64
    let insertStart: Int64
    let insertCount: Int64
    let operationCount: Int
    let batchSize: Int
    let ordered: Bool
    let zeroPadding: Int
    let keyPrefix: [UInt8]
    var random: SeededRandom
    var keys: KeyChooser
    var sizes: SizeChooser
    let minScan: Int
    let maxScan: Int
    var scanZipfian: YCSB.Zipfian?
    let actions: YCSB.Discrete<Action>
    let writeActions: YCSB.Discrete<Action>?
    /// Next key number the run phase inserts, and the newest one inserted.
    var insertSequence: Int64
    var lastInserted: Int64
    var loaded: Int64 = 0
    var ran = 0
    var queue: [WorkloadOperation] = []
    var queued = 0

    public init(spec: WorkloadSpec, seed: UInt64) throws {
        recordCount = Int64(try spec.integer("recordcount", default: 1000))
        operationCount = try spec.integer("operationcount", default: 1000)
        insertStart = Int64(try spec.integer("insertstart", default: 0))
        insertCount = Int64(try spec.integer("insertcount", default: Int(recordCount - insertStart)))
        guard recordCount > 0, insertStart + insertCount <= recordCount, insertCount > 0 else {
            throw spec.invalid("recordcount", "recordcount must be positive and cover insertstart + insertcount")
        }
        batchSize = max(1, try spec.integer("batchsize", default: 1))
        ordered = try spec.choice("insertorder", default: "hashed", allowed: ["hashed", "ordered"]) == "ordered"
        keyPrefix = Array(spec.string("keyprefix", default: "user").utf8)
        let keySize = try spec.integer("keysize", default: 0)
        zeroPadding = max(try spec.integer("zeropadding", default: 1), keySize - keyPrefix.count)
        if keySize > 0 {
            // Hashed key numbers take up to 19 digits; ordered ones as many as the largest number.
            let largest = recordCount + Int64(try spec.integer("operationcount", default: 1000))
            let digits = ordered ? String(largest).count : 19
            guard keySize >= keyPrefix.count + digits else {
                throw spec.invalid("keysize", "keysize \(keySize) cannot hold `\(String(decoding: keyPrefix, as: UTF8.self))` + \(digits) digits (\(ordered ? "ordered" : "hashed") keys); use at least \(keyPrefix.count + digits)")
            }
        }
        random = SeededRandom(seed: seed)

        let fieldCount = try spec.integer("fieldcount", default: 10)
        let fieldLength = try spec.integer("fieldlength", default: 100)
        let maxValue = fieldCount * fieldLength
        guard maxValue <= StoreLimits.maxValueSize else {
            throw spec.invalid("fieldlength", "fieldcount × fieldlength = \(maxValue) bytes exceeds the 64 MiB value limit")
        }
        let minValue = min(maxValue, max(1, try spec.integer("minvaluesize", default: 1)))
        let distribution = try spec.choice(
            spec.properties["valuesizedistribution"] != nil ? "valuesizedistribution" : "fieldlengthdistribution",
            default: "constant", allowed: ["constant", "uniform", "zipfian"])
        switch distribution {
        case "uniform": sizes = .uniform(minValue, maxValue)
        case "zipfian": sizes = .zipfian(YCSB.Zipfian(min: Int64(minValue), max: Int64(maxValue)))
        default: sizes = .constant(maxValue)
        }

        let read = try spec.double("readproportion", default: 0.95)
        let update = try spec.double("updateproportion", default: 0.05)
        let insert = try spec.double("insertproportion", default: 0)
        let scan = try spec.double("scanproportion", default: 0)
        let rmw = try spec.double("readmodifywriteproportion", default: 0)
        let delete = try spec.double("deleteproportion", default: 0)
        var actions = YCSB.Discrete<Action>()
        actions.add(read, .read)
        actions.add(update, .update)
        actions.add(insert, .insert)
        actions.add(scan, .scan)
        actions.add(rmw, .readModifyWrite)
        actions.add(delete, .delete)
        guard actions.total > 0 else { throw spec.invalid("readproportion", "every operation proportion is zero") }
        self.actions = actions
        var writes = YCSB.Discrete<Action>()
        writes.add(update, .update)
        writes.add(insert, .insert)
        writes.add(delete, .delete)
        writeActions = batchSize > 1 && writes.total > 0 ? writes : nil

        minScan = max(1, try spec.integer("minscanlength", default: 1))
        maxScan = max(minScan, try spec.integer("maxscanlength", default: 1000))
        if try spec.choice("scanlengthdistribution", default: "uniform", allowed: ["uniform", "zipfian"]) == "zipfian" {
            scanZipfian = YCSB.Zipfian(min: Int64(minScan), max: Int64(maxScan))
        }

        insertSequence = recordCount
        lastInserted = recordCount - 1
        let expectedNewKeys = Int64(Double(operationCount) * insert * 2)
        switch try spec.choice("requestdistribution", default: "uniform",
                               allowed: ["uniform", "zipfian", "latest", "hotspot", "sequential", "exponential"]) {
        case "zipfian":
            keys = .zipfian(YCSB.ScrambledZipfian(min: insertStart, max: insertStart + insertCount + expectedNewKeys))
        case "latest":
            keys = .latest(YCSB.Zipfian(min: 0, max: recordCount - 1))
        case "hotspot":
            keys = .hotspot(YCSB.Hotspot(
                lower: insertStart, upper: insertStart + insertCount - 1,
                hotSetFraction: try spec.double("hotspotdatafraction", default: 0.2),
                hotOperationFraction: try spec.double("hotspotopnfraction", default: 0.8)))
        case "sequential":
            keys = .sequential(start: insertStart, count: insertCount, next: 0)
        case "exponential":
            keys = .exponential(YCSB.Exponential(
                percentile: try spec.double("exponential.percentile", default: 95),
                range: Double(recordCount) * (try spec.double("exponential.frac", default: 0.8571428571))))
        default:
            keys = .uniform(lower: insertStart, count: insertCount)
        }

        let loadOperations = Int(insertCount) + (batchSize > 1 ? 2 * ((Int(insertCount) + batchSize - 1) / batchSize) : 0)
        header = TraceHeader([
            ("source", "ycsb:\(spec.name)"), ("seed", String(seed)), ("load_operations", String(loadOperations)),
            ("recordcount", String(recordCount)), ("operationcount", String(operationCount)),
            ("requestdistribution", spec.string("requestdistribution", default: "uniform")),
        ])
    }

    /// YCSB's key name: `user` followed by the (hashed unless `insertorder=ordered`) key number,
    /// zero-padded to `zeropadding` digits.
    func key(_ number: Int64) -> [UInt8] {
        let value = ordered ? number : YCSB.fnvhash64(number)
        let digits = Array(String(value).utf8)
        var key = keyPrefix
        key.reserveCapacity(keyPrefix.count + max(digits.count, zeroPadding))
        if digits.count < zeroPadding { key += repeatElement(UInt8(ascii: "0"), count: zeroPadding - digits.count) }
        key += digits
        return key
    }

    /// YCSB's `nextKeynum`: a key that exists (re-drawn past the newest insert).
    mutating func nextKeyNumber() -> Int64 {
        while true {
            let number: Int64
            switch keys {
            case let .uniform(lower, count):
                number = lower + Int64(random.below(Int(count)))
            case var .zipfian(generator):
                number = generator.next(&random)
                keys = .zipfian(generator)
            case var .latest(generator):
                number = lastInserted - generator.next(&random, itemCount: lastInserted)
                keys = .latest(generator)
            case let .hotspot(generator):
                number = generator.next(&random)
            case let .sequential(start, count, next):
                number = start + next % count
                keys = .sequential(start: start, count: count, next: next + 1)
            case let .exponential(generator):
                number = lastInserted - generator.next(&random)
            }
            if number >= 0 && number <= lastInserted { return number }
        }
    }

    mutating func valueSize() -> Int {
        switch sizes {
        case let .constant(size): return size
        case let .uniform(low, high): return low + random.below(high - low + 1)
        case var .zipfian(generator):
            let size = Int(generator.next(&random))
            sizes = .zipfian(generator)
            return size
        }
    }

    mutating func scanLength() -> Int {
        guard var zipfian = scanZipfian else { return minScan + random.below(maxScan - minScan + 1) }
        let length = Int(zipfian.next(&random))
        scanZipfian = zipfian
        return length
    }

    mutating func makeOperation(for action: Action) -> WorkloadOperation {
        switch action {
        case .read: return WorkloadOperation(.get, key: key(nextKeyNumber()))
        case .update: return WorkloadOperation(.put, key: key(nextKeyNumber()), valueSize: valueSize())
        case .insert:
            let number = insertSequence
            insertSequence += 1
            lastInserted = number
            return WorkloadOperation(.put, key: key(number), valueSize: valueSize())
        case .scan:
            let start = key(nextKeyNumber())
            return WorkloadOperation(.scan, key: start, scanCount: scanLength())
        case .readModifyWrite: return WorkloadOperation(.readModifyWrite, key: key(nextKeyNumber()), valueSize: valueSize())
        case .delete: return WorkloadOperation(.delete, key: key(nextKeyNumber()))
        }
    }

    public mutating func next(into operation: inout WorkloadOperation) throws -> Bool {
        if queued < queue.count {
            operation = queue[queued]
            queued += 1
            return true
        }
        queue.removeAll(keepingCapacity: true)
        queued = 0
        if loaded < insertCount {
            let count = batchSize > 1 ? min(Int64(batchSize), insertCount - loaded) : 1
            if batchSize > 1 { queue.append(WorkloadOperation(.begin)) }
            for _ in 0..<count {
                queue.append(WorkloadOperation(.put, key: key(insertStart + loaded), valueSize: valueSize()))
                loaded += 1
            }
            if batchSize > 1 { queue.append(WorkloadOperation(.commit)) }
        } else if ran < operationCount {
            let action = actions.next(&random)
            if let writeActions, action == .update || action == .insert || action == .delete {
                let count = min(batchSize, operationCount - ran)
                queue.append(WorkloadOperation(.begin))
                queue.append(makeOperation(for: action))
                for _ in 1..<max(count, 1) { queue.append(makeOperation(for: writeActions.next(&random))) }
                queue.append(WorkloadOperation(.commit))
                ran += count
            } else {
                queue.append(makeOperation(for: action))
                ran += 1
            }
        } else {
            return false
        }
        return try next(into: &operation)
    }
}
