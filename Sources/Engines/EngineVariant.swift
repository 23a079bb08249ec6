import StoreCore

/// An engine name with settings in brackets, `cow[commit=journal]` or
/// `log[format=jsonl,deletes=tombstone-file]`: a variant of a registered engine that results,
/// reports and `compare` treat as an engine of its own, so one run can set variants side by side.
struct EngineVariant: Equatable {
    /// The registered engine, `cow`.
    let base: String
    /// The settings in the order written.
    let settings: [(name: String, value: String)]

    static func == (lhs: EngineVariant, rhs: EngineVariant) -> Bool {
        lhs.base == rhs.base && lhs.settings.elementsEqual(rhs.settings) { $0 == $1 }
    }

    /// The name results carry: the base name and the settings as written, without spaces.
    var name: String {
        settings.isEmpty ? base : base + "[" + settings.map { "\($0.name)=\($0.value)" }.joined(separator: ",") + "]"
    }

    /// Parses `base` or `base[name=value,…]`.
    /// - Throws: `StoreError.invalidArgument` naming what is malformed.
    init(parsing text: String) throws(StoreError) {
        guard let open = text.firstIndex(of: "[") else {
            base = text
            settings = []
            return
        }
        guard text.last == "]", text.firstIndex(of: "]") == text.index(before: text.endIndex) else {
            throw .invalidArgument("engine `\(text)`: a variant is written ENGINE[NAME=VALUE,…], with one closing `]` at the end")
        }
        base = String(text[..<open])
        let inner = text[text.index(after: open)..<text.index(before: text.endIndex)]
        guard open != text.startIndex, !inner.isEmpty else {
            throw .invalidArgument("engine `\(text)`: a variant is written ENGINE[NAME=VALUE,…]")
        }
        var parsed: [(name: String, value: String)] = []
        for item in inner.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = parts.first.map { String($0).trimmedOfSpaces } ?? ""
            let value = parts.count == 2 ? String(parts[1]).trimmedOfSpaces : ""
            guard parts.count == 2, !name.isEmpty, !value.isEmpty, !name.contains(".") else {
                throw .invalidArgument("engine `\(text)`: `\(item)` is not NAME=VALUE")
            }
            guard !parsed.contains(where: { $0.name == name }) else {
                throw .invalidArgument("engine `\(text)` sets `\(name)` twice")
            }
            parsed.append((name, value))
        }
        settings = parsed
    }

    /// `descriptor` under this variant's name, opening with its settings scoped to the engine
    /// (they win over `--set` values of the same names: the name says what ran).
    func apply(to descriptor: EngineDescriptor) -> EngineDescriptor {
        guard !settings.isEmpty else { return descriptor }
        let scoped = settings.map { (descriptor.name + "." + $0.name, $0.value) }
        let open = descriptor.open
        return EngineDescriptor(
            name: name, strategy: descriptor.strategy, summary: descriptor.summary,
            isPersistent: descriptor.isPersistent, maxKeySize: descriptor.maxKeySize,
            isReference: descriptor.isReference, hasBackgroundMaintenance: descriptor.hasBackgroundMaintenance,
            stressSettings: descriptor.stressSettings, peers: descriptor.peers,
            open: { directory, options in
                var options = options
                for (name, value) in scoped { options.settings[name] = value }
                return try open(directory, options)
            })
    }

    /// Splits an engine list at the commas outside brackets: `log,cow[a=1,b=2]` → two names.
    static func splitList(_ list: String) -> [String] {
        var names: [String] = []
        var current = ""
        var depth = 0
        for character in list {
            switch character {
            case "[": depth += 1
            case "]": depth -= 1
            case "," where depth == 0:
                names.append(current.trimmedOfSpaces)
                current = ""
                continue
            default: break
            }
            current.append(character)
        }
        names.append(current.trimmedOfSpaces)
        return names.filter { !$0.isEmpty }
    }
}

extension StringProtocol {
    var trimmedOfSpaces: String {
        var slice = self[...]
        while slice.first == " " { slice = slice.dropFirst() }
        while slice.last == " " { slice = slice.dropLast() }
        return String(slice)
    }
}
