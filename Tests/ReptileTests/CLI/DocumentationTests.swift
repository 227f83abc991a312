import Foundation
import Testing

/// The README stays a short manual, and every relative link in it and in docs/ points at a file
/// that exists (anchors are not checked; http(s) and other schemes are skipped).
@Suite struct DocumentationTests {
    static let root = Support.packageRoot

    /// README.md and every Markdown file under docs/, as paths relative to the package root.
    static func markdownFiles() throws -> [String] {
        var files = ["README.md"]
        let docs = root.appendingPathComponent("docs")
        let manager = FileManager.default
        var isFolder: ObjCBool = false
        if manager.fileExists(atPath: docs.path, isDirectory: &isFolder), isFolder.boolValue,
           let walker = manager.enumerator(atPath: docs.path) {
            for case let path as String in walker where path.hasSuffix(".md") {
                files.append("docs/" + path)
            }
        }
        return files.sorted()
    }

    /// The text with fenced code blocks and inline code spans removed: a `](` inside code is no link.
    static func proseOnly(_ text: String) -> String {
        var kept: [Substring] = []
        var inFence = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.trimmingCharacters(in: .whitespaces).hasPrefix("```") {
                inFence.toggle()
                continue
            }
            if !inFence { kept.append(line) }
        }
        let joined = kept.joined(separator: "\n")
        return joined.replacingOccurrences(of: "`[^`\n]*`", with: "", options: .regularExpression)
    }

    /// The targets of `[text](target)` links, with any title and #anchor removed; external links
    /// (a scheme such as https:) and pure #anchors left out.
    static func relativeLinkTargets(in text: String) -> [String] {
        let prose = proseOnly(text)
        let pattern = try! NSRegularExpression(pattern: #"\]\(([^)\s]+)(?:\s+"[^"]*")?\)"#)
        let range = NSRange(prose.startIndex..., in: prose)
        var targets: [String] = []
        for match in pattern.matches(in: prose, range: range) {
            guard let targetRange = Range(match.range(at: 1), in: prose) else { continue }
            var target = String(prose[targetRange])
            if target.hasPrefix("<"), target.hasSuffix(">") { target = String(target.dropFirst().dropLast()) }
            if target.hasPrefix("#") { continue }
            if target.range(of: #"^[A-Za-z][A-Za-z0-9+.-]*:"#, options: .regularExpression) != nil { continue }
            if let hash = target.firstIndex(of: "#") { target = String(target[..<hash]) }
            targets.append(target.removingPercentEncoding ?? target)
        }
        return targets
    }

    @Test func readmeIsAShortManual() throws {
        let text = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).count
        if text.hasSuffix("\n") { lines -= 1 }
        #expect(lines <= 300, "README.md has \(lines) lines; move details to docs/")
    }

    @Test func linkParsing() {
        let sample = """
        See [the reference](docs/reference.md#run-folders), [a site](https://example.org/x.md),
        [an anchor](#install), [spaced](docs/format.md "the contract") and `[code](not/a/link.md)`.
        ```
        [fenced](not/a/link/either.md)
        ```
        """
        #expect(Self.relativeLinkTargets(in: sample) == ["docs/reference.md", "docs/format.md"])
    }

    @Test func relativeLinksResolve() throws {
        let files = try Self.markdownFiles()
        #expect(files.contains("docs/reference.md"))
        var broken: [String] = []
        for file in files {
            let url = Self.root.appendingPathComponent(file)
            let text = try String(contentsOf: url, encoding: .utf8)
            let folder = url.deletingLastPathComponent()
            for target in Self.relativeLinkTargets(in: text) {
                let resolved = folder.appendingPathComponent(target).standardizedFileURL
                if !FileManager.default.fileExists(atPath: resolved.path) {
                    broken.append("\(file): \(target)")
                }
            }
        }
        #expect(broken.isEmpty, "links to missing files: \(broken.joined(separator: ", "))")
    }
}
