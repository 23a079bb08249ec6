import Foundation
import PackagePlugin

/// Stamps the commit of the checkout being built into the `storebench` executable.
///
/// A prebuild command runs before every build, so a new commit is picked up without a clean
/// build; the file it writes only changes (and only recompiles) when the commit does. Outside a
/// git checkout — a source archive — the commit is `unknown`.
@main
struct BuildCommit: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appending(path: "BuildCommit")
        let package = context.package.directoryURL.path
        // `--dirty` marks a build from uncommitted changes, which results must not pass off as the
        // commit itself; the candidate is compared first so an unchanged commit rebuilds nothing.
        let script = """
            commit=$(git -C "$1" describe --always --dirty --abbrev=7 --match none 2>/dev/null) || commit=unknown
            [ -n "$commit" ] || commit=unknown
            mkdir -p "$2"
            printf '// Generated at build time: the commit this executable was built from.\\nlet buildCommit = "%s"\\n' "$commit" > "$3"
            cmp -s "$3" "$2/BuildCommit.swift" || cp "$3" "$2/BuildCommit.swift"
            """
        return [
            .prebuildCommand(
                displayName: "Stamping the build's commit",
                executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: ["-c", script, "stamp", package, output.path, context.pluginWorkDirectoryURL.appending(path: "candidate").path],
                outputFilesDirectory: output
            ),
        ]
    }
}
