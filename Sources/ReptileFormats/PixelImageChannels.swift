extension PixelImage {
    /// Gray ↔ RGB as Pillow's `convert` does it (see `PNGFile`).
    public func converted(toChannels channels: Int) -> PixelImage {
        PNGFile.converted(self, toChannels: channels)
    }
}
