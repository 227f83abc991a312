import Foundation
import ReptileCore

/// Which text format a path holds: a folder is `folder`; a file is known by its extension, and
/// otherwise (`.txt`, no extension, anything else) by its first non-blank line.
public func detectTextFormat(at path: String) throws -> TextFormat {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw ReptileError(path: path, "no such file or directory", fix: "check the path")
    }
    if isDirectory.boolValue { return .folder }

    switch (path as NSString).pathExtension.lowercased() {
    case "csv": return .csv
    case "tsv": return .tsv
    case "jsonl", "ndjson": return .jsonl
    case "label": return .trec
    case "ft", "fasttext": return .fasttext
    default: return try sniffTextFormat(at: path)
    }
}

/// Looks at the first non-blank line (within the first 64 KiB).
func sniffTextFormat(at path: String) throws -> TextFormat {
    guard let handle = FileHandle(forReadingAtPath: path) else {
        throw ReptileError(path: path, "cannot read the file", fix: "check that it is readable")
    }
    defer { try? handle.close() }
    var head = [UInt8]((try? handle.read(upToCount: 1 << 16)) ?? Data())
    try DecodedTextFile.rejectUTF16(head, path: path)
    if head.starts(with: [0xEF, 0xBB, 0xBF]) { head.removeFirst(3) }

    let firstLine = head.split(separator: Byte.newline, omittingEmptySubsequences: true)
        .map { $0.trimmingBlanks() }
        .first { !$0.isEmpty }
    guard let line = firstLine else {
        throw ReptileError(path: path, "the file is empty", fix: "give a file with records")
    }
    if line.starts(with: "__label__".utf8) { return .fasttext }
    if looksLikeTrecLine(line) { return .trec }
    if line.first == UInt8(ascii: "{") { return .jsonl }
    if line.contains(Byte.tab) { return .labelTab }
    if line.contains(Byte.comma) { return .csv }
    let formats = TextFormat.allCases.map(\.rawValue).joined(separator: ", ")
    throw ReptileError(path: path, location: "line 1", "cannot tell the text format from the first line",
                       fix: "give --format (one of \(formats))")
}

/// `^[A-Z]+:\S+ `: upper-case letters, a colon, a non-blank fine class, then a space.
private func looksLikeTrecLine(_ line: ArraySlice<UInt8>) -> Bool {
    var index = line.startIndex
    while index < line.endIndex, (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(line[index]) { index += 1 }
    guard index > line.startIndex, index < line.endIndex, line[index] == Byte.colon else { return false }
    index += 1
    let fineStart = index
    while index < line.endIndex, line[index] != Byte.space, line[index] != Byte.tab, line[index] != Byte.carriageReturn {
        index += 1
    }
    return index > fineStart && index < line.endIndex && line[index] == Byte.space
}
