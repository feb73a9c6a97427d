/// Every problem with input files: it always names the file and, where there is one, the tensor or key.
public struct FormatError: Error, CustomStringConvertible, Equatable, Sendable {
    public var file: String
    public var tensor: String?
    public var message: String

    public init(_ file: String, tensor: String? = nil, _ message: String) {
        self.file = file
        self.tensor = tensor
        self.message = message
    }

    public var description: String {
        if let tensor { return "\(file): tensor '\(tensor)': \(message)" }
        return "\(file): \(message)"
    }
}
