import ResultsSchema
import StoreCore

/// One `storebench run` of one workload: for each thread layout, the harness's own cost, then
/// every repetition of every engine, each on a fresh store (`EngineBenchmark`).
public struct RunSession {
    public var engines: [EngineDescriptor]
    public var plan: RunPlan
    public var layouts: [WorkerLayout]
    public var repetitions: Int
    /// Where the engines' store directories are made.
    public var scratch: String
    public var progress: ((String) -> Void)?
    /// `--find-max`: after the runs, search each engine's highest rate within this objective.
    public var objective: LatencyObjective?

    public init(engines: [EngineDescriptor], plan: RunPlan, layouts: [WorkerLayout], repetitions: Int, scratch: String) {
        self.engines = engines
        self.plan = plan
        self.layouts = layouts
        self.repetitions = repetitions
        self.scratch = scratch
    }

    /// The longest a `--find-max` probe replays at its rate.
    public static let probeSeconds = 5.0

    static func label(_ layout: WorkerLayout) -> String {
        switch layout {
        case let .threads(count): String(count)
        case let .roles(readers, writers): "\(readers)r+\(writers)w"
        }
    }

    /// The runs, in layout, repetition and engine order, and the harness's cost per operation for
    /// each layout.
    public func run() throws -> (runs: [Results.Run], harnessOverhead: [(layout: WorkerLayout, nanoseconds: Double)]) {
        var runs: [Results.Run] = []
        var overheads: [(WorkerLayout, Double)] = []
        for layout in layouts {
            var plan = plan
            plan.layout = layout
            let overhead = try EngineBenchmark.harnessOverhead(plan: plan)
            overheads.append((layout, overhead))
            for repetition in 1...max(1, repetitions) {
                for engine in engines {
                    var benchmark = EngineBenchmark(engine: engine, plan: plan, scratch: scratch)
                    benchmark.progress = progress
                    runs.append(try benchmark.run(repetition: repetition, harnessOverhead: overhead))
                    progress?("")
                }
            }
            if let objective {
                for engine in engines {
                    guard let index = runs.lastIndex(where: { $0.engine == engine.name && $0.threadLabel == Self.label(layout) }) else { continue }
                    var paced = plan
                    paced.killPoints = 0
                    paced.warmUp = plan.warmUp
                    runs[index].maximumRate = try SLOSearch(objective: objective).search(unpaced: runs[index].opsPerS) { rate in
                        paced.pace = .rate(rate)
                        // A probe replays at most `probeSeconds` of the run phase at its rate.
                        paced.totalRecords = min(plan.totalRecords, plan.loadRecords + max(1_000, Int(rate * Self.probeSeconds)))
                        progress?("\(engine.name): \(objective) at \(Int(rate)) ops/s")
                        return try EngineBenchmark(engine: engine, plan: paced, scratch: scratch).run(repetition: 0, harnessOverhead: overhead)
                    }
                    progress?("")
                }
            }
        }
        return (runs, overheads)
    }
}
