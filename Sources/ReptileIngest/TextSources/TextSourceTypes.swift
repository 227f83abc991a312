import ReptileCore

/// One labelled text read from a source, with where it came from (for error messages and reports).
public struct TextRecord: Sendable, Equatable {
    public var text: String
    public var label: String
    /// The path of the file the record came from.
    public var file: String
    /// The 1-based line where the record starts; 0 for a folder source (one file is one record).
    public var line: Int

    public init(text: String, label: String, file: String, line: Int) {
        self.text = text
        self.label = label
        self.file = file
        self.line = line
    }

    /// "line 12", or "" for a record that is a whole file (folder source).
    public var location: String {
        line > 0 ? "line \(line)" : ""
    }
}

/// The layouts a labelled text source can have. Raw values are what `--format` accepts.
public enum TextFormat: String, CaseIterable, Sendable {
    case csv
    case tsv
    case jsonl
    case folder
    case labelTab = "label-tab"
    case trec
    case fasttext
    case classFiles = "class-files"
}

/// How the bytes of a text file are turned into characters. Raw values are what `--encoding` accepts.
public enum TextEncoding: String, CaseIterable, Sendable {
    case utf8
    case latin1
    case cp1252
}

/// For TREC: the 6 coarse classes (`DESC`) or the 50 fine ones (`DESC:manner`).
public enum LabelLevel: String, CaseIterable, Sendable {
    case coarse
    case fine
}

/// One `--class-file LABEL=PATH`: every line of the file at `path` is a text of class `label`.
public struct ClassFile: Sendable, Equatable {
    public var label: String
    public var path: String

    public init(label: String, path: String) {
        self.label = label
        self.path = path
    }
}

/// What the user told us about a text source; everything has a sensible default.
public struct TextSourceOptions: Sendable {
    /// nil: detect from the path (see `detectTextFormat`).
    public var format: TextFormat? = nil
    public var encoding: TextEncoding = .utf8
    /// Column names, or 0-based indices written as strings ("1"); several are joined with one space.
    public var textColumns: [String] = []
    /// A column name or a 0-based index written as a string.
    public var labelColumn: String? = nil
    /// csv / tsv: false (`--no-header`) means the first line is a record and columns are indices.
    public var hasHeader: Bool = true
    /// trec only.
    public var labelLevel: LabelLevel = .coarse
    /// class-files format; the source path may then be nil.
    public var classFiles: [ClassFile] = []

    public init() {}
}

/// Every record of a source, in file order, and every file that was read (in order).
public struct TextSource: Sendable {
    public var format: TextFormat
    public var records: [TextRecord]
    public var files: [String]

    public init(format: TextFormat, records: [TextRecord], files: [String]) {
        self.format = format
        self.records = records
        self.files = files
    }
}
