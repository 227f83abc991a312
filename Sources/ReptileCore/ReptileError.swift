/// A failure the user can act on: which file, which record, what is wrong and what to do.
///
/// Its `description` is the one line the command line prints, e.g.
/// `data/train.csv: line 12: unclosed quote (opened at line 10); close the quote or remove it`.
public struct ReptileError: Error, CustomStringConvertible, Equatable, Sendable {
    public var path: String?
    public var location: String?
    public var problem: String
    public var fix: String?

    public init(path: String? = nil, location: String? = nil, _ problem: String, fix: String? = nil) {
        self.path = path
        self.location = location
        self.problem = problem
        self.fix = fix
    }

    public var description: String {
        var parts: [String] = []
        if let path { parts.append(path) }
        if let location { parts.append(location) }
        parts.append(problem)
        var line = parts.joined(separator: ": ")
        if let fix { line += "; \(fix)" }
        // One line, whatever the data held.
        return line.replacingNewlines()
    }
}

extension String {
    func replacingNewlines() -> String {
        String(unicodeScalars.map { $0 == "\n" || $0 == "\r" ? " " : Character($0) })
    }
}

/// Shows a value from user data inside an error message: quoted, short, with control characters escaped.
public func quoted(_ value: String, limit: Int = 60) -> String {
    var escaped = ""
    for scalar in value.unicodeScalars {
        if escaped.unicodeScalars.count >= limit { escaped += "…"; break }
        switch scalar {
        case "\n": escaped += "\\n"
        case "\r": escaped += "\\r"
        case "\t": escaped += "\\t"
        case "\"": escaped += "\\\""
        default:
            if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
                escaped += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                escaped.unicodeScalars.append(scalar)
            }
        }
    }
    return "\"\(escaped)\""
}
