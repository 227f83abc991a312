import ReptileCore

/// Builds a record from raw text and label bytes: both trimmed of ASCII blanks, neither empty.
func makeRecord(text: ArraySlice<UInt8>, label: ArraySlice<UInt8>, file: String, line: Int) throws -> TextRecord {
    let trimmedLabel = label.trimmingBlanks()
    if trimmedLabel.isEmpty {
        throw recordError(file, line: line, "empty label", fix: "give every record a label, or remove the record")
    }
    return try makeRecord(text: text, label: trimmedLabel.text, file: file, line: line)
}

func makeRecord(text: ArraySlice<UInt8>, label: String, file: String, line: Int) throws -> TextRecord {
    let trimmedText = text.trimmingBlanks()
    if trimmedText.isEmpty {
        throw recordError(file, line: line, "empty text", fix: "give every record a text, or remove the record")
    }
    return TextRecord(text: trimmedText.text, label: label, file: file, line: line)
}

/// Formats with one record per line. Lines holding nothing but blanks are skipped.
enum LineFormatReader {
    /// SMS Spam Collection: `label<TAB>text`, split at the first TAB (the text may hold more).
    static func readLabelTab(_ file: DecodedTextFile) throws -> [TextRecord] {
        var records: [TextRecord] = []
        for line in file.lines() where !line.bytes.trimmingBlanks().isEmpty {
            guard let tab = line.bytes.firstIndex(of: Byte.tab) else {
                throw recordError(file.path, line: line.number, "no TAB between label and text",
                                  fix: "write each line as label<TAB>text, or give the right --format")
            }
            records.append(try makeRecord(text: line.bytes[(tab + 1)...], label: line.bytes[..<tab],
                                          file: file.path, line: line.number))
        }
        return records
    }

    /// TREC: `COARSE:fine question`, the label is everything before the first space.
    static func readTrec(_ file: DecodedTextFile, level: LabelLevel) throws -> [TextRecord] {
        var records: [TextRecord] = []
        for line in file.lines() where !line.bytes.trimmingBlanks().isEmpty {
            let bytes = line.bytes
            let space = bytes.firstIndex(of: Byte.space) ?? bytes.endIndex
            let labelPart = bytes[..<space]
            guard let colon = labelPart.firstIndex(of: Byte.colon),
                  colon > labelPart.startIndex, colon + 1 < labelPart.endIndex else {
                throw recordError(file.path, line: line.number,
                                  "label \(quoted(labelPart.text)) is not COARSE:fine",
                                  fix: "write each line as COARSE:fine question (e.g. DESC:manner How ...), or give the right --format")
            }
            let label = level == .coarse ? labelPart[..<colon] : labelPart
            records.append(try makeRecord(text: bytes[space...], label: label, file: file.path, line: line.number))
        }
        return records
    }

    /// fastText: `__label__class text`. One label per line: multi-label data is refused, not
    /// silently cut down to its first label.
    static func readFastText(_ file: DecodedTextFile) throws -> [TextRecord] {
        let prefix = Array("__label__".utf8)
        var records: [TextRecord] = []
        for line in file.lines() {
            let bytes = line.bytes.trimmingBlanks()
            if bytes.isEmpty { continue }
            guard bytes.starts(with: prefix) else {
                throw recordError(file.path, line: line.number, "the line does not start with __label__",
                                  fix: "write each line as __label__<class> <text>, or give the right --format")
            }
            let labelStart = bytes.startIndex + prefix.count
            var labelEnd = labelStart
            while labelEnd < bytes.endIndex, !ArraySlice<UInt8>.isBlank(bytes[labelEnd]) { labelEnd += 1 }
            let text = bytes[labelEnd...]
            if containsLabelToken(text, prefix: prefix) {
                throw recordError(file.path, line: line.number,
                                  "more than one __label__ on the line (multi-label data is not supported)",
                                  fix: "keep one __label__ per line")
            }
            records.append(try makeRecord(text: text, label: bytes[labelStart..<labelEnd],
                                          file: file.path, line: line.number))
        }
        return records
    }

    /// True when a word of `text` (after a space or tab, or at its start) begins with `__label__`.
    private static func containsLabelToken(_ text: ArraySlice<UInt8>, prefix: [UInt8]) -> Bool {
        var index = text.startIndex
        while index < text.endIndex {
            let atWordStart = index == text.startIndex || ArraySlice<UInt8>.isBlank(text[index - 1])
            if atWordStart, text[index...].starts(with: prefix) { return true }
            index += 1
        }
        return false
    }

    /// Class files: every non-blank line of the file is one text of class `label`.
    static func readClassFile(_ file: DecodedTextFile, label: String) throws -> [TextRecord] {
        var records: [TextRecord] = []
        for line in file.lines() where !line.bytes.trimmingBlanks().isEmpty {
            records.append(try makeRecord(text: line.bytes, label: label, file: file.path, line: line.number))
        }
        return records
    }
}
