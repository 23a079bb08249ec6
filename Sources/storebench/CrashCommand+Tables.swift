import ArgumentParser
import Engines
import Foundation
import Replay
import Report
import StoreCore
import Workload

/// What `crash` prints while it runs and when it is done.
extension CrashCommand {
    static func showProgress(_ message: String) {
        var standardError = StandardError()
        print("\r\u{1B}[K" + message, terminator: "", to: &standardError)
    }

    func printKillTable(_ reports: [CrashCycles.Report]) {
            var table = TextTable(headers: ["engine", "cycles", "kills", "in maintenance", "in recovery", "before 1st ack", "recovered", "lost",
                                            "partial", "wrong", "failed opens", "unsynced lost", "recovery p50", "p99", "max"])
            for report in reports {
                table.append([
                    report.engine, String(report.iterations), String(report.kills), String(report.killsDuringMaintenance),
                    String(report.killsDuringRecovery), String(report.killsBeforeFirstAcknowledgement), String(report.recovered),
                    String(report.lostCommits), String(report.partialBatches), String(report.wrongStates), String(report.failedOpens),
                    String(report.unsyncedLost),
                    NumberFormat.fixed(report.recoveryMs.p50, places: 1) + " ms", NumberFormat.fixed(report.recoveryMs.p99, places: 1) + " ms",
                    NumberFormat.fixed(report.recoveryMs.max, places: 1) + " ms",
                ])
            }
            print(table.render(), terminator: "")
            for report in reports { for problem in report.problems { print("\(report.engine): \(problem)") } }
    }

    func printFaultTable(_ reports: [FaultCycles.Report]) {
        var table = TextTable(headers: ["engine", "fault", "cycles", "injected", "before 1st ack", "reported", "acked after", "store failed",
                                        "states", "torn/reordered", "recovered", "lost", "partial", "wrong", "failed opens", "refused", "unsynced lost",
                                        "recovery p50", "p99", "max"])
        for report in reports {
            table.append([
                report.engine, report.fault.rawValue, String(report.cycles), String(report.injected), String(report.beforeFirstAcknowledgement),
                String(report.reported), String(report.acknowledgedAfterError), String(report.storeFailed), String(report.states),
                String(report.tornStates), String(report.recovered), String(report.lostCommits), String(report.partialBatches),
                String(report.wrongStates), String(report.failedOpens), String(report.refusedOpens), String(report.unsyncedLost),
                NumberFormat.fixed(report.recoveryMs.p50, places: 1) + " ms", NumberFormat.fixed(report.recoveryMs.p99, places: 1) + " ms",
                NumberFormat.fixed(report.recoveryMs.max, places: 1) + " ms",
            ])
        }
        print(table.render(), terminator: "")
        for report in reports { for problem in report.problems { print("\(report.engine), \(report.fault.rawValue): \(problem)") } }
    }
}
