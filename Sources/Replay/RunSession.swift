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

    public init(engines: [EngineDescriptor], plan: RunPlan, layouts: [WorkerLayout], repetitions: Int, scratch: String) {
        self.engines = engines
        self.plan = plan
        self.layouts = layouts
        self.repetitions = repetitions
        self.scratch = scratch
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
        }
        return (runs, overheads)
    }
}
