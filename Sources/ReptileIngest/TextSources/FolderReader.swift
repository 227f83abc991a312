import Foundation
import ReptileCore

/// A folder of class folders: SRC/<class>/*.txt, one text per file, the folder name is the label.
enum FolderReader {
    /// The records, and every file read, in order: class folders sorted by name, files sorted by name.
    static func read(_ root: String, encoding: TextEncoding) throws -> (records: [TextRecord], files: [String]) {
        let classNames = try visibleEntries(of: root).filter { isDirectory(join(root, $0)) }
        if classNames.isEmpty {
            throw ReptileError(path: root, "no class folders in the folder",
                               fix: "put the texts of each class in their own folder, SRC/<class>/*.txt")
        }
        var records: [TextRecord] = []
        var files: [String] = []
        for className in classNames {
            let classFolder = join(root, className)
            let textFiles = try visibleEntries(of: classFolder).filter { name in
                name.lowercased().hasSuffix(".txt") && !isDirectory(join(classFolder, name))
            }
            if textFiles.isEmpty {
                throw ReptileError(path: classFolder, "class folder \(quoted(className)) holds no .txt file",
                                   fix: "add its texts as .txt files, or remove the folder")
            }
            for name in textFiles {
                let path = join(classFolder, name)
                let file = try DecodedTextFile(path: path, encoding: encoding)
                files.append(path)
                let text = file.wholeText()[...].trimmingBlanks()
                if text.isEmpty {
                    throw ReptileError(path: path, "empty text", fix: "give the file a text, or remove it")
                }
                records.append(TextRecord(text: text.text, label: className, file: path, line: 0))
            }
        }
        return (records, files)
    }

    /// Names in a folder, without hidden ones (".DS_Store", ".git"), sorted.
    private static func visibleEntries(of folder: String) throws -> [String] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder)
        } catch {
            throw ReptileError(path: folder, "cannot list the folder", fix: "check that it is readable")
        }
        return names.filter { !$0.hasPrefix(".") }.sorted()
    }

    private static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    private static func join(_ folder: String, _ name: String) -> String {
        folder.hasSuffix("/") ? folder + name : folder + "/" + name
    }
}
