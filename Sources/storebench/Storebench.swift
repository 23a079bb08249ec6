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

    /// The commit of the checkout the executable was built from, stamped at build time by the
    /// `BuildCommit` plugin (`-dirty` for uncommitted changes, `unknown` outside a git checkout).
    static let commit = buildCommit
}
