import ReptileCore

/// CSV and TSV (RFC 4180) with a header row, read on bytes.
///
/// Quoting follows RFC 4180: a field that starts with `"` is quoted, `""` inside it is one `"`,
/// and it may hold delimiters and line ends. A `"` in the middle of an unquoted field is an
/// ordinary character, so unquoted TSV such as SST-2 reads as it is.
enum DelimitedReader {
    /// One row of fields and the line it starts on.
    struct Row {
        var line: Int
        var fields: [ArraySlice<UInt8>]
    }

    static func read(_ file: DecodedTextFile, delimiter: UInt8, options: TextSourceOptions) throws -> [TextRecord] {
        let rows = try parseRows(file.bytes, delimiter: delimiter, path: file.path)
        guard let firstRow = rows.first else {
            throw ReptileError(path: file.path, "the file is empty", fix: "give a file with records")
        }
        let header: [String]? = options.hasHeader ? firstRow.fields.map { $0.trimmingBlanks().text } : nil
        let dataRows = options.hasHeader ? rows.dropFirst() : rows[...]
        if dataRows.isEmpty {
            throw ReptileError(path: file.path, "the file has a header but no records", fix: "give a file with records")
        }

        let columnCount = firstRow.fields.count
        let textIndices = try textColumnIndices(options.textColumns, header: header, columnCount: columnCount,
                                                path: file.path)
        let labelIndex = try labelColumnIndex(options.labelColumn, header: header, columnCount: columnCount,
                                              path: file.path)
        let delimiterName = delimiter == Byte.tab ? "TAB" : "comma"

        var records: [TextRecord] = []
        records.reserveCapacity(dataRows.count)
        for row in dataRows {
            guard row.fields.count == columnCount else {
                let expected = header == nil ? "the first line has \(columnCount)" : "the header has \(columnCount)"
                throw recordError(file.path, line: row.line, "\(row.fields.count) fields, but \(expected)",
                                  fix: "check the line; a field that holds a \(delimiterName) must be in double quotes")
            }
            let text: ArraySlice<UInt8>
            if textIndices.count == 1 {
                text = row.fields[textIndices[0]]
            } else {
                // Several columns make one text: each trimmed, empty ones left out, one space between.
                let parts = textIndices.map { row.fields[$0].trimmingBlanks() }.filter { !$0.isEmpty }
                text = ArraySlice(Array(parts.joined(separator: [Byte.space])))
            }
            records.append(try makeRecord(text: text, label: row.fields[labelIndex], file: file.path, line: row.line))
        }
        return records
    }

    // MARK: - Columns

    private static func textColumnIndices(_ names: [String], header: [String]?, columnCount: Int,
                                          path: String) throws -> [Int] {
        if names.isEmpty {
            return [try defaultColumn(["text", "sentence"], header: header, flag: "--text-column", path: path)]
        }
        return try names.map { try resolveColumn($0, header: header, columnCount: columnCount,
                                                  flag: "--text-column", path: path) }
    }

    private static func labelColumnIndex(_ name: String?, header: [String]?, columnCount: Int,
                                         path: String) throws -> Int {
        guard let name else {
            return try defaultColumn(["label", "class"], header: header, flag: "--label-column", path: path)
        }
        return try resolveColumn(name, header: header, columnCount: columnCount, flag: "--label-column", path: path)
    }

    /// The first header column named one of `candidates` (case-insensitive).
    private static func defaultColumn(_ candidates: [String], header: [String]?, flag: String,
                                      path: String) throws -> Int {
        guard let header else {
            throw ReptileError(path: path, "without a header the columns have no names",
                               fix: "give --text-column and --label-column as 0-based indices")
        }
        for candidate in candidates {
            if let index = header.firstIndex(where: { $0.lowercased() == candidate }) { return index }
        }
        let wanted = candidates.map { quoted($0) }.joined(separator: " or ")
        throw ReptileError(path: path, location: "line 1",
                           "no column named \(wanted); the columns are \(columnList(header))",
                           fix: "name the column with \(flag)")
    }

    /// A column given by name (exact, then case-insensitive) or by 0-based index.
    private static func resolveColumn(_ name: String, header: [String]?, columnCount: Int, flag: String,
                                      path: String) throws -> Int {
        if let header {
            if let index = header.firstIndex(of: name) { return index }
            if let index = header.firstIndex(where: { $0.lowercased() == name.lowercased() }) { return index }
        }
        if let index = Int(name), (0..<columnCount).contains(index) { return index }
        if let header {
            throw ReptileError(path: path, location: "line 1",
                               "no column \(quoted(name)); the columns are \(columnList(header))",
                               fix: "give \(flag) one of those names or a 0-based index")
        }
        throw ReptileError(path: path, "no column \(quoted(name)) in a file without a header (\(columnCount) columns)",
                           fix: "give \(flag) a 0-based index from 0 to \(columnCount - 1)")
    }

    private static func columnList(_ header: [String]) -> String {
        header.map { quoted($0) }.joined(separator: ", ")
    }

    // MARK: - Rows

    /// Splits the bytes into rows of fields. Completely empty lines between rows are skipped.
    /// Inside quoted fields, CRLF becomes `\n` so a text does not depend on the file's line ends.
    static func parseRows(_ bytes: [UInt8], delimiter: UInt8, path: String) throws -> [Row] {
        var rows: [Row] = []
        var index = 0
        var line = 1
        let count = bytes.count

        while index < count {
            // A blank line: nothing, or only the CR of a CRLF.
            if bytes[index] == Byte.newline {
                index += 1
                line += 1
                continue
            }
            if bytes[index] == Byte.carriageReturn, index + 1 == count || bytes[index + 1] == Byte.newline {
                index += 2
                line += 1
                continue
            }

            let rowLine = line
            var fields: [ArraySlice<UInt8>] = []
            var rowEnded = false
            while !rowEnded {
                if index < count, bytes[index] == Byte.quote {
                    let openingLine = line
                    index += 1
                    // Copied only when an escaped quote or a CRLF forces the field to differ from the bytes.
                    var rewritten: [UInt8]? = nil
                    var pieceStart = index
                    var closed = false
                    while index < count {
                        let byte = bytes[index]
                        if byte == Byte.quote {
                            if index + 1 < count, bytes[index + 1] == Byte.quote {
                                rewritten = (rewritten ?? []) + bytes[pieceStart...index]
                                index += 2
                                pieceStart = index
                                continue
                            }
                            closed = true
                            break
                        }
                        if byte == Byte.newline {
                            line += 1
                        } else if byte == Byte.carriageReturn, index + 1 < count, bytes[index + 1] == Byte.newline {
                            rewritten = (rewritten ?? []) + bytes[pieceStart..<index]
                            pieceStart = index + 1
                        }
                        index += 1
                    }
                    guard closed else {
                        throw recordError(path, line: openingLine, "unclosed quote: the quoted field that opens on this line never closes",
                                          fix: "close the quote, or write a \" inside a quoted field as \"\"")
                    }
                    if let rewritten {
                        fields.append(ArraySlice(rewritten + bytes[pieceStart..<index]))
                    } else {
                        fields.append(bytes[pieceStart..<index])
                    }
                    index += 1  // the closing quote
                    // After the closing quote: a delimiter, the end of the line, or the end of the file.
                    if index == count {
                        rowEnded = true
                    } else if bytes[index] == delimiter {
                        index += 1
                    } else if bytes[index] == Byte.newline {
                        index += 1
                        line += 1
                        rowEnded = true
                    } else if bytes[index] == Byte.carriageReturn, index + 1 == count || bytes[index + 1] == Byte.newline {
                        index += 2
                        line += 1
                        rowEnded = true
                    } else {
                        throw recordError(path, line: line,
                                          "unexpected \(quoted(String(decoding: [bytes[index]], as: UTF8.self))) after the closing quote of a field",
                                          fix: "write a \" inside a quoted field as \"\"")
                    }
                } else {
                    let start = index
                    while index < count, bytes[index] != delimiter, bytes[index] != Byte.newline { index += 1 }
                    if index < count, bytes[index] == delimiter {
                        fields.append(bytes[start..<index])
                        index += 1
                    } else {
                        fields.append(DecodedTextFile.droppingCarriageReturn(bytes[start..<index]))
                        if index < count {
                            index += 1
                            line += 1
                        }
                        rowEnded = true
                    }
                }
            }
            rows.append(Row(line: rowLine, fields: fields))
        }
        return rows
    }
}
