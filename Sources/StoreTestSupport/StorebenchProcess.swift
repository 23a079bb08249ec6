import Foundation

/// Runs the `storebench` executable built next to the test bundle, for tests that need a second
/// process or the real command line.
public enum StorebenchProcess {
    /// Path of the built executable: the test bundle and the executable share a build directory.
    public static var executablePath: String {
        let bundle = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        var directory = (bundle as NSString).deletingLastPathComponent
        // On Linux the test runner may live inside `*.xctest`; walk up to the build directory.
        while !FileManager.default.isExecutableFile(atPath: directory + "/storebench"), directory.count > 1 {
            directory = (directory as NSString).deletingLastPathComponent
        }
        return directory + "/storebench"
    }

    /// Runs `storebench arguments…` to completion.
    /// - Returns: the exit status and stdout and stderr together.
    public static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        try execute(executablePath, arguments, environment: environment)
    }

    /// Runs any program to its end: its exit status and its output and errors together.
    public static func execute(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var merged = ProcessInfo.processInfo.environment
        for (key, value) in environment { merged[key] = value }
        process.environment = merged
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
