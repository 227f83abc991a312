import Foundation
import ReptileCore

/// JSON Lines: one JSON object per line. Blank lines are skipped.
enum JSONLinesReader {
    static func read(_ file: DecodedTextFile, options: TextSourceOptions) throws -> [TextRecord] {
        let textFields = options.textColumns.isEmpty ? nil : options.textColumns
        var records: [TextRecord] = []
        for line in file.lines() {
            let bytes = line.bytes.trimmingBlanks()
            if bytes.isEmpty { continue }
            let parsed = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
            guard let object = parsed as? [String: Any] else {
                throw recordError(file.path, line: line.number, "not a JSON object: \(quoted(bytes.text))",
                                  fix: "write one JSON object per line, e.g. {\"text\": \"...\", \"label\": \"...\"}")
            }
            let textNames = try textFields ?? [defaultField(["text", "sentence"], in: object, flag: "--text-column",
                                                            path: file.path, line: line.number)]
            let textParts = try textNames.map { name in
                try textValue(object, name: name, path: file.path, line: line.number)
            }
            let labelName = try options.labelColumn
                ?? defaultField(["label", "class"], in: object, flag: "--label-column", path: file.path, line: line.number)
            let label = try labelValue(object, name: labelName, path: file.path, line: line.number)
            // Several fields make one text: each trimmed, empty ones left out, one space between.
            let joined = textParts.map { Array($0.utf8)[...].trimmingBlanks() }.filter { !$0.isEmpty }
                .joined(separator: [Byte.space])
            records.append(try makeRecord(text: ArraySlice(joined), label: ArraySlice(label.utf8),
                                          file: file.path, line: line.number))
        }
        return records
    }

    /// The first of `candidates` present in the object (exact key, then case-insensitive).
    private static func defaultField(_ candidates: [String], in object: [String: Any], flag: String,
                                     path: String, line: Int) throws -> String {
        for candidate in candidates where object[candidate] != nil { return candidate }
        for candidate in candidates {
            if let key = object.keys.sorted().first(where: { $0.lowercased() == candidate }) { return key }
        }
        let keys = object.keys.sorted().map { quoted($0) }.joined(separator: ", ")
        throw recordError(path, line: line,
                          "no field named \(candidates.map { quoted($0) }.joined(separator: " or ")); the fields are \(keys)",
                          fix: "name the field with \(flag)")
    }

    private static func textValue(_ object: [String: Any], name: String, path: String, line: Int) throws -> String {
        guard let value = object[name] else {
            throw missingField(name, object: object, flag: "--text-column", path: path, line: line)
        }
        guard let text = value as? String else {
            throw recordError(path, line: line, "field \(quoted(name)) is not a string",
                              fix: "write the text as a JSON string")
        }
        return text
    }

    /// A label is a string or an integer (written as its decimal digits); anything else is refused.
    private static func labelValue(_ object: [String: Any], name: String, path: String, line: Int) throws -> String {
        guard let value = object[name] else {
            throw missingField(name, object: object, flag: "--label-column", path: path, line: line)
        }
        if let label = value as? String { return label }
        if let number = value as? NSNumber, isInteger(number) { return String(number.int64Value) }
        throw recordError(path, line: line, "field \(quoted(name)) is neither a string nor an integer",
                          fix: "write the label as a JSON string or an integer")
    }

    /// JSONSerialization gives NSNumber for integers, floats and booleans alike; the type code
    /// tells them apart ("c" is a boolean, "d"/"f" a floating-point number).
    private static func isInteger(_ number: NSNumber) -> Bool {
        let typeCode = String(cString: number.objCType)
        return ["s", "i", "l", "q", "S", "I", "L", "Q"].contains(typeCode)
    }

    private static func missingField(_ name: String, object: [String: Any], flag: String, path: String,
                                     line: Int) -> ReptileError {
        let keys = object.keys.sorted().map { quoted($0) }.joined(separator: ", ")
        return recordError(path, line: line, "no field \(quoted(name)); the fields are \(keys)",
                           fix: "give \(flag) one of those names")
    }
}
