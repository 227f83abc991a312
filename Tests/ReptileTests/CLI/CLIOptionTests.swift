import Foundation
import Testing

/// Options several commands share: `--threads` is declared, checked and refused in one place
/// (ThreadOptions), and `train image` and `train text` name the discriminator refresh alike.
@Suite struct CLIOptionTests {
    /// Refused before the command starts: one line, exit 1, nothing written in the working folder.
    @Test func threadsOutOfRangeIsOneLineInEveryCommand() throws {
        let scratch = try Support.makeTemporaryFolder("threads")
        defer { Support.remove(scratch) }
        let commands: [[String]] = [
            ["train", "image", "--out", "run"], ["train", "text", "--out", "run"], ["generate", "--run", "run", "--per-class", "1"],
            ["pretrain", "--dataset", "d", "--out", "c"], ["finetune", "--eval", "d", "--out", "c"], ["classify", "--classifier", "c.h5", "d"],
            ["evaluate", "--synthetic", "s", "--dataset", "d"], ["embed", "texts.txt"], ["bench", "W4"], ["lm", "sample", "--prompt", "hi"],
        ]
        for command in commands {
            for (threads, words) in [("0", "at least 1, got 0"), ("-2", "at least 1, got -2"), ("1025", "at most 1024, got 1025")] {
                let result = try Support.reptile(command + ["--threads", threads], currentDirectory: scratch)
                #expect(result.status == 1 && result.standardError == "reptile: error: --threads must be \(words); use e.g. 1 or 2\n",
                        "\(command.joined(separator: " ")) --threads \(threads): exit \(result.status), \(result.standardError.prefix(300))")
            }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).isEmpty)
    }

    /// `--refresh-discriminator` / `--no-refresh-discriminator` in both trainers (the old text spelling
    /// `--frozen-discriminator` still parses); the language-model generator refuses each by its name.
    @Test func discriminatorRefreshHasOneNameInBothTrainers() throws {
        let scratch = try Support.makeTemporaryFolder("refresh")
        defer { Support.remove(scratch) }
        for flag in ["--refresh-discriminator", "--no-refresh-discriminator", "--frozen-discriminator"] {
            let result = try Support.reptile(["train", "text", "--generator", "lm", "--dataset", "d", "--out", "run", flag], currentDirectory: scratch)
            #expect(result.status == 1 && result.standardError.contains("\(flag) is for --generator gru"), "\(flag): \(result.standardError.prefix(300))")
        }
        let help = try Support.reptile(["train", "image", "--help"]).standardOutput + (try Support.reptile(["train", "text", "--help"])).standardOutput
        #expect(help.components(separatedBy: "--refresh-discriminator/--no-refresh-discriminator").count == 3, "\(help)")
        #expect(!help.contains("--frozen-discriminator"))
    }
}
