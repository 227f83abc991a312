import Foundation
import ReptileCore

/// Byte values the readers look for. Every one is ASCII, so it means the same in UTF-8,
/// Latin-1 and Windows-1252, and never occurs inside a multi-byte UTF-8 sequence.
enum Byte {
    static let newline: UInt8 = 0x0A
    static let carriageReturn: UInt8 = 0x0D
    static let tab: UInt8 = 0x09
    static let space: UInt8 = 0x20
    static let quote: UInt8 = 0x22
    static let comma: UInt8 = 0x2C
    static let colon: UInt8 = 0x3A
    static let nul: UInt8 = 0x00
}

/// One line of a text file: its 1-based number and its bytes without the `\n` and one trailing `\r`.
struct TextLine {
    var number: Int
    var bytes: ArraySlice<UInt8>
}

/// A text file read into memory and converted to valid UTF-8 bytes.
///
/// Converting everything to UTF-8 first lets every reader work on bytes with one set of rules:
/// Latin-1 and Windows-1252 map ASCII bytes to themselves, so `\n`, TAB, `,` and `"` stay where
/// they were, and a byte such as 0x85 becomes two bytes (C2 85) that are never taken for a line end.
struct DecodedTextFile {
    let path: String
    /// Valid UTF-8, without a byte order mark.
    let bytes: [UInt8]

    init(path: String, encoding: TextEncoding) throws {
        self.path = path
        var raw = try Self.readBytes(at: path)
        try Self.rejectUTF16(raw, path: path)
        // A UTF-8 byte order mark carries no text; drop it so it does not stick to the first field.
        if raw.starts(with: [0xEF, 0xBB, 0xBF]) { raw.removeFirst(3) }
        try Self.rejectNul(raw, path: path)
        switch encoding {
        case .utf8:
            try Self.validateUTF8(raw, path: path)
            bytes = raw
        case .latin1:
            bytes = Self.transcodeToUTF8(raw) { byte in UInt32(byte) }
        case .cp1252:
            bytes = Self.transcodeToUTF8(raw) { byte in Windows1252.scalarValue(of: byte) }
        }
    }

    /// The file split on `\n` (0x0A) only, one trailing `\r` dropped per line (CRLF files).
    /// A final `\n` does not start another line.
    func lines() -> [TextLine] {
        var result: [TextLine] = []
        var start = 0
        var number = 1
        var index = 0
        let count = bytes.count
        while index < count {
            if bytes[index] == Byte.newline {
                result.append(TextLine(number: number, bytes: Self.droppingCarriageReturn(bytes[start..<index])))
                number += 1
                start = index + 1
            }
            index += 1
        }
        if start < count {
            result.append(TextLine(number: number, bytes: Self.droppingCarriageReturn(bytes[start..<count])))
        }
        return result
    }

    /// The whole file as one text, with CRLF line ends turned into `\n`.
    func wholeText() -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count)
        for (position, line) in lines().enumerated() {
            if position > 0 { result.append(Byte.newline) }
            result.append(contentsOf: line.bytes)
        }
        return result
    }

    static func droppingCarriageReturn(_ line: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        if line.last == Byte.carriageReturn { return line.dropLast() }
        return line
    }

    // MARK: - Reading and checking bytes

    static func readBytes(at path: String) throws -> [UInt8] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ReptileError(path: path, "no such file or directory", fix: "check the path")
        }
        if isDirectory.boolValue {
            throw ReptileError(path: path, "is a folder, not a text file",
                               fix: "give the file inside it, or --format folder for SRC/<class>/*.txt")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ReptileError(path: path, "cannot read the file", fix: "check that it is readable")
        }
        return [UInt8](data)
    }

    static func rejectUTF16(_ raw: [UInt8], path: String) throws {
        if raw.starts(with: [0xFF, 0xFE]) || raw.starts(with: [0xFE, 0xFF]) {
            throw ReptileError(path: path, location: "line 1", "the file starts with a UTF-16 byte order mark",
                               fix: "re-encode it as UTF-8 (e.g. iconv -f UTF-16 -t UTF-8)")
        }
    }

    static func rejectNul(_ raw: [UInt8], path: String) throws {
        guard let offset = raw.firstIndex(of: Byte.nul) else { return }
        throw ReptileError(path: path, location: "line \(lineNumber(atOffset: offset, in: raw))",
                           "holds a NUL byte (binary file or UTF-16?)",
                           fix: "give a text file; re-encode UTF-16 text as UTF-8")
    }

    /// Strict UTF-8: on the first invalid sequence, names its line and the offending byte.
    static func validateUTF8(_ raw: [UInt8], path: String) throws {
        // The standard library's validation is fast; only on failure do we look for the place.
        if String(validating: raw, as: UTF8.self) != nil { return }
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = raw.makeIterator()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded):
                offset += encoded.count
            case .error:
                let line = lineNumber(atOffset: offset, in: raw)
                throw ReptileError(path: path, location: "line \(line)",
                                   "not valid UTF-8 (byte \(hexadecimal(raw[offset])))",
                                   fix: "if the file is Latin-1 or Windows-1252, give --encoding latin1 (or --encoding cp1252)")
            case .emptyInput:
                return
            }
        }
    }

    /// 1-based line of the byte at `offset`: one more than the `\n` bytes before it.
    static func lineNumber(atOffset offset: Int, in raw: [UInt8]) -> Int {
        var line = 1
        for index in 0..<offset where raw[index] == Byte.newline { line += 1 }
        return line
    }

    /// Single-byte encodings to UTF-8: every byte is one scalar, given by `scalarValue`.
    static func transcodeToUTF8(_ raw: [UInt8], scalarValue: (UInt8) -> UInt32) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(raw.count + raw.count / 8)
        for byte in raw {
            if byte < 0x80 {
                result.append(byte)
                continue
            }
            let value = scalarValue(byte)
            if value < 0x800 {
                result.append(UInt8(0xC0 | (value >> 6)))
                result.append(UInt8(0x80 | (value & 0x3F)))
            } else {
                result.append(UInt8(0xE0 | (value >> 12)))
                result.append(UInt8(0x80 | ((value >> 6) & 0x3F)))
                result.append(UInt8(0x80 | (value & 0x3F)))
            }
        }
        return result
    }
}

/// Windows-1252: 0x80–0x9F are typographic characters; everything else is Latin-1.
enum Windows1252 {
    /// Scalars for 0x80...0x9F. The five bytes Windows-1252 leaves undefined (0x81, 0x8D, 0x8F,
    /// 0x90, 0x9D) keep the C1 control of the same value, as Latin-1 would, so no byte is lost.
    static let highControlRange: [UInt32] = [
        0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, // 80–87
        0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F, // 88–8F
        0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, // 90–97
        0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178, // 98–9F
    ]

    static func scalarValue(of byte: UInt8) -> UInt32 {
        if (0x80...0x9F).contains(byte) { return highControlRange[Int(byte) - 0x80] }
        return UInt32(byte)
    }
}

// MARK: - Small helpers shared by the readers

extension ArraySlice where Element == UInt8 {
    /// Without leading and trailing ASCII spaces, tabs and CRs (not U+0085, not no-break space:
    /// those are part of the text).
    func trimmingBlanks() -> ArraySlice<UInt8> {
        var start = startIndex
        var end = endIndex
        while start < end, Self.isBlank(self[start]) { start += 1 }
        while end > start, Self.isBlank(self[end - 1]) { end -= 1 }
        return self[start..<end]
    }

    static func isBlank(_ byte: UInt8) -> Bool {
        byte == Byte.space || byte == Byte.tab || byte == Byte.carriageReturn
    }

    /// The bytes as a String. The bytes are valid UTF-8 (DecodedTextFile made sure of it).
    var text: String { String(decoding: self, as: UTF8.self) }
}

/// "0xF0": how a byte is shown in messages.
func hexadecimal(_ byte: UInt8) -> String {
    let digits = String(byte, radix: 16, uppercase: true)
    return "0x" + (digits.count == 1 ? "0" : "") + digits
}

/// An error in one record: names the file and, when there is one, the line.
func recordError(_ file: String, line: Int, _ problem: String, fix: String? = nil) -> ReptileError {
    ReptileError(path: file, location: line > 0 ? "line \(line)" : nil, problem, fix: fix)
}
