import ArgumentParser
import ProcessMemory
import Replay
import Report
import StoreCore
import Workload

/// Release-build micro-benchmarks of the building blocks every engine leans on.
struct MicrobenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "microbench",
        abstract: "Measure the building blocks: CRC32C, varint coding, the in-memory ordered map, trace files, the device's fsync rate.",
        discussion: "Build with `swift build -c release` for meaningful figures."
    )

    enum Target: String, ExpressibleByArgument, CaseIterable {
        case crc32c, varint, keymap, trace, fsync, all
    }

    @Argument(help: "What to measure: crc32c, varint, keymap, trace, fsync or all.")
    var target: Target = .all

    @Option(help: "Seconds to spend on each measurement.")
    var seconds: Double = 1

    func validate() throws {
        guard seconds > 0 else { throw ValidationError("--seconds must be positive") }
    }

    func run() throws {
        var table = TextTable(headers: ["benchmark", "result", "unit"])
        if target == .crc32c || target == .all {
            let kind = CRC32C.usesHardware ? "instruction" : "tables"
            for size in [64, 4096, 1 << 20] {
                table.append(["crc32c (\(kind)) \(ByteSize.format(size)) buffers", NumberFormat.fixed(try Microbenchmarks.crc32cThroughput(bufferSize: size, seconds: seconds, CRC32C.checksum), places: 2), "GB/s"])
            }
            if CRC32C.usesHardware {
                table.append(["crc32c (tables) 4 KiB buffers", NumberFormat.fixed(try Microbenchmarks.crc32cThroughput(bufferSize: 4096, seconds: seconds, CRC32C.softwareChecksum), places: 2), "GB/s"])
            }
        }
        if target == .varint || target == .all {
            let (encode, decode) = Microbenchmarks.varintRates(seconds: seconds)
            table.append(["varint encode", NumberFormat.grouped(encode / 1e6), "M values/s"])
            table.append(["varint decode", NumberFormat.grouped(decode / 1e6), "M values/s"])
        }
        if target == .keymap || target == .all {
            let (insert, lookup) = Microbenchmarks.keyMapRates(count: 1_000_000)
            table.append(["keymap insert (1M random 16 B keys)", NumberFormat.grouped(insert / 1e3), "k ops/s"])
            table.append(["keymap lookup (1M random 16 B keys)", NumberFormat.grouped(lookup / 1e3), "k ops/s"])
        }
        if target == .trace || target == .all {
            let (write, read, bytes) = try Microbenchmarks.traceRates(operations: 5_000_000)
            table.append(["trace write (5M ops, 16 B keys, sizes only)", NumberFormat.fixed(write / 1e6, places: 2), "M records/s"])
            table.append(["trace read", NumberFormat.fixed(read / 1e6, places: 2), "M records/s"])
            table.append(["trace size", NumberFormat.fixed(Double(bytes) / 5e6, places: 1), "bytes/record"])
        }
        if target == .fsync || target == .all {
            let (overwrite, append) = try Microbenchmarks.fsyncRates(seconds: seconds)
            table.append(["fsync rate: 4 KiB overwrite + fdatasync", NumberFormat.grouped(overwrite), "syncs/s"])
            table.append(["fsync rate: 4 KiB append + fdatasync", NumberFormat.grouped(append), "syncs/s"])
        }
        print(table.render(), terminator: "")
    }
}
