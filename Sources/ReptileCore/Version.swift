/// The version written into every file Reptile makes (`tool_version`).
public enum ReptileVersion {
    public static let current = "0.1.0"
}
