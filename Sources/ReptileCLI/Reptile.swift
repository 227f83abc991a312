import ArgumentParser
import ReptileCore

@main
struct Reptile: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reptile",
        abstract: "Turn a small labelled dataset into a larger synthetic one, and measure whether it helped.",
        version: ReptileVersion.current)
}
