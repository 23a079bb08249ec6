import ArgumentParser
import Foundation

@main
struct Storebench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storebench",
        abstract: "Replay key-value workloads against interchangeable storage engines and compare what each costs.",
        discussion: """
            Exit codes: 0 success; 1 a store or run failed (locked directory, corruption, I/O error); \
            64 wrong usage (unknown command or option, bad value).
            """,
        version: ToolVersion.current,
        subcommands: [
            EnginesCommand.self, RunCommand.self, ReportCommand.self, HistoryCommand.self, SweepCommand.self, CompareCommand.self, BaselineCommand.self,
            CrashCommand.self, DBBenchCommand.self, WorkloadCommand.self,
            VerifyCommand.self, MicrobenchCommand.self, StressCommand.self, CrashChildCommand.self,
        ]
    )
}

/// The version `--version` prints and reports record.
enum ToolVersion {
    static let current = "0.1.0"

    /// The git commit of the checkout the executable was built in (`unknown` elsewhere).
    static let commit: String = {
        let directory = URL(fileURLWithPath: CommandLine.executablePath).deletingLastPathComponent().path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "-C", directory, "rev-parse", "--short", "HEAD"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return "unknown" }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let commit = output.trimmingCharacters(in: .whitespacesAndNewlines)
        return process.terminationStatus == 0 && !commit.isEmpty ? commit : "unknown"
    }()
}
