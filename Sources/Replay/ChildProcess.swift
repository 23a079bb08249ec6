import Foundation

/// Runs a program to its end and hands back its exit status and what it printed: the
/// `storebench run` children of `sweep` and `baseline check`, and RocksDB's `db_bench`. (Crash
/// children are read as they run and killed: `CrashRecovery.runChild`.)
public enum ChildProcess {
    /// Where a child's standard output and error go.
    public enum Output {
        /// Both into this file (created or replaced).
        case file(String)
        /// Standard output captured and returned; errors to this process's standard error.
        case captureOutput
        /// Both captured together and returned.
        case captureAll
    }

    /// Runs `executable arguments…` and waits for it.
    /// - Returns: its exit status, and the captured bytes (empty with `.file`).
    public static func run(_ executable: String, _ arguments: [String], output: Output) throws -> (status: Int32, output: Data) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var captured = Data()
        switch output {
        case let .file(path):
            guard FileManager.default.createFile(atPath: path, contents: nil),
                  let log = FileHandle(forWritingAtPath: path) else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
            }
            defer { try? log.close() }
            process.standardOutput = log
            process.standardError = log
            try process.run()
            process.waitUntilExit()
        case .captureOutput, .captureAll:
            let pipe = Pipe()
            process.standardOutput = pipe
            if case .captureAll = output { process.standardError = pipe }
            try process.run()
            captured = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
        }
        return (process.terminationStatus, captured)
    }
}
