import Foundation
import StoreCore

extension SweepPlan.Cell {
    /// Runs this cell as a child `storebench run` (`executable`), its results and its output
    /// (`run.log`) in `directory`.
    /// - Returns: the child's exit status.
    public func run(executable: String, into directory: String) throws -> Int32 {
        try StorageDirectory.createPath(directory, fileSystem: PosixFileSystem())
        return try ChildProcess.run(executable, ["run"] + arguments + ["--out", directory, "--no-progress"],
                                    output: .file(directory + "/run.log")).status
    }

    /// The results.json files a cell's directory holds (one per workload it ran); none until the
    /// cell has run, which is how a resumed sweep knows what is done.
    public static func resultFiles(in directory: String) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return entries.sorted().map { directory + "/" + $0 + "/results.json" }.filter { FileManager.default.fileExists(atPath: $0) }
    }
}
