import Foundation
import ReptileCore
import ReptileFormats

/// `--resume` continues only on the data the run began with: the same dataset_info.json, or (runs
/// that recorded it) the same content, so a dataset ingested again with the same sources and
/// settings, which differs only in its creation time and command line, still resumes.
func checkResumedDataset(_ folder: DatasetFolder, recordedFileSHA256: String, recordedContentSHA256: String?) throws {
    let fileSHA256 = folder.infoSHA256
    if fileSHA256 == recordedFileSHA256 { return }
    if let recordedContentSHA256, try folder.contentSHA256() == recordedContentSHA256 { return }
    throw ReptileError(path: URL(fileURLWithPath: folder.path).appendingPathComponent(DatasetInfo.fileName).path,
                       "differs from the dataset the run was trained on (dataset_info.json sha256 \(fileSHA256.prefix(12))…, the run has \(recordedFileSHA256.prefix(12))…)",
                       fix: "resume with the same dataset, or start a new run with --force")
}
