import Foundation
import ReptileCore

/// Reads every labelled text of a source.
///
/// `path` is the source (a file, or a folder for the folder format); it may be nil only when
/// `options.classFiles` lists the files instead. Throws `ReptileError` naming the file and line.
public func readTextSource(at path: String?, options: TextSourceOptions) throws -> TextSource {
    if options.format == .classFiles || !options.classFiles.isEmpty {
        return try readClassFiles(sourcePath: path, options: options)
    }
    guard let path else {
        throw ReptileError("no text source given", fix: "give the source path, or --class-file LABEL=PATH")
    }
    let format = try options.format ?? detectTextFormat(at: path)

    if format == .folder {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ReptileError(path: path, "no such file or directory", fix: "check the path")
        }
        guard isDirectory.boolValue else {
            throw ReptileError(path: path, "is a file, but the folder format needs a folder",
                               fix: "give a folder SRC/<class>/*.txt, or the right --format")
        }
        let (records, files) = try FolderReader.read(path, encoding: options.encoding)
        return TextSource(format: format, records: records, files: files)
    }

    let file = try DecodedTextFile(path: path, encoding: options.encoding)
    let records: [TextRecord]
    switch format {
    case .csv: records = try DelimitedReader.read(file, delimiter: Byte.comma, options: options)
    case .tsv: records = try DelimitedReader.read(file, delimiter: Byte.tab, options: options)
    case .jsonl: records = try JSONLinesReader.read(file, options: options)
    case .labelTab: records = try LineFormatReader.readLabelTab(file)
    case .trec: records = try LineFormatReader.readTrec(file, level: options.labelLevel)
    case .fasttext: records = try LineFormatReader.readFastText(file)
    case .folder, .classFiles: preconditionFailure("handled above")
    }
    if records.isEmpty {
        throw ReptileError(path: path, "no records in the file", fix: "give a file with records")
    }
    return TextSource(format: format, records: records, files: [path])
}

/// The class-files format: each listed file gives one class, one text per line.
private func readClassFiles(sourcePath: String?, options: TextSourceOptions) throws -> TextSource {
    if let format = options.format, format != .classFiles {
        throw ReptileError("--class-file was given with --format \(format.rawValue)",
                           fix: "use --class-file only with --format class-files (or without --format)")
    }
    if options.classFiles.isEmpty {
        throw ReptileError("the class-files format needs the files", fix: "give --class-file LABEL=PATH for each class")
    }
    if let sourcePath {
        // Reading one and silently ignoring the other would be worse than asking.
        throw ReptileError(path: sourcePath, "a source path and class files were both given",
                           fix: "give either the source path or --class-file LABEL=PATH, not both")
    }
    var records: [TextRecord] = []
    var files: [String] = []
    for classFile in options.classFiles {
        let label = Array(classFile.label.utf8)[...].trimmingBlanks()
        if label.isEmpty {
            throw ReptileError(path: classFile.path, "empty label for this class file",
                               fix: "give --class-file LABEL=PATH with a non-empty LABEL")
        }
        let file = try DecodedTextFile(path: classFile.path, encoding: options.encoding)
        let fileRecords = try LineFormatReader.readClassFile(file, label: String(decoding: label, as: UTF8.self))
        if fileRecords.isEmpty {
            throw ReptileError(path: classFile.path, "no texts in the class file", fix: "give a file with one text per line")
        }
        files.append(classFile.path)
        records += fileRecords
    }
    return TextSource(format: .classFiles, records: records, files: files)
}
