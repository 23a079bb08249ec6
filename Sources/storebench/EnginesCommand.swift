import ArgumentParser
import Engines
import Report

struct EnginesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engines",
        abstract: "List the engines storebench can run."
    )

    func run() throws {
        var table = TextTable(headers: ["name", "strategy", "persistent", "description"],
                              alignments: [.left, .left, .left, .left])
        for engine in EngineRegistry.all {
            table.append([engine.name, engine.strategy, engine.isPersistent ? "yes" : "no", engine.summary])
        }
        print(table.render(), terminator: "")
    }
}
