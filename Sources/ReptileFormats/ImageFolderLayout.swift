import Foundation

// The torchvision ImageFolder layout, `root/<class>/<index>.png`, written by `export png` and by
// `generate --format png`: one place decides how class names become folder names.

/// A class name as one safe folder name: `/`, `\`, `%`, control characters and a leading dot are
/// percent-encoded, so a label such as `../../etc` stays inside the export root (and decodes back).
public func folderName(forClass name: String) -> String {
    var result = ""
    for (offset, scalar) in name.unicodeScalars.enumerated() {
        let unsafe = scalar == "/" || scalar == "\\" || scalar == "%" || scalar.value < 0x20 || scalar.value == 0x7F
            || (offset == 0 && scalar == ".")
        if unsafe {
            for byte in String(scalar).utf8 { result += "%" + String(format: "%02X", byte) }
        } else {
            result.unicodeScalars.append(scalar)
        }
    }
    return result.isEmpty ? "%00" : result
}

/// `00042.png`: zero-padded so that file names sort in index order.
public func imageFileName(index: Int) -> String {
    let digits = String(index)
    return String(repeating: "0", count: max(0, 5 - digits.count)) + digits + ".png"
}
