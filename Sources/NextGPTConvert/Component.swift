import NextGPTCore
import NextGPTFormats

/// One part of the system as the container holds it: its tensors under `name.`, its metadata
/// (configs, tokenizer data, already under absolute keys) and the files it was read from.
public struct Component: Sendable {
    /// Prefix of every tensor and key of the component, e.g. `vicuna`, `sd15.unet`.
    public let name: String
    public var tensors: [ComponentTensor]
    public var metadata: [(String, GGUFValue)]
    public var sourceFiles: [String]
    /// What the component was read from: `hf-llama`, `diffusers`, `ldm-single-file`, …
    public var sourceFormat: String

    public init(name: String, tensors: [ComponentTensor] = [], metadata: [(String, GGUFValue)] = [],
                sourceFiles: [String] = [], sourceFormat: String) {
        self.name = name
        self.tensors = tensors
        self.metadata = metadata
        self.sourceFiles = sourceFiles
        self.sourceFormat = sourceFormat
    }

    public init(name: String, checkpoint: Checkpoint, sourceFormat: String) {
        self.init(name: name, tensors: checkpoint.tensors.map { ComponentTensor(name: $0.name, source: $0) },
                  sourceFiles: checkpoint.files, sourceFormat: sourceFormat)
    }

    public func key(_ suffix: String) -> String { "\(name).\(suffix)" }

    public mutating func addConfig(_ json: String, key suffix: String = "config") {
        metadata.append((key(suffix), .string(json)))
    }
}

/// A tensor of a component: the upstream source, and LoRA updates merged into it at conversion.
public struct ComponentTensor: Sendable {
    /// Name inside the component (the upstream key, in diffusers naming for diffusion parts).
    public var name: String
    public var source: SourceTensor
    public var lora: [LoraPair] = []

    public init(name: String, source: SourceTensor) {
        self.name = name
        self.source = source
    }
}

/// Everything that goes into one container.
public struct ConversionPlan: Sendable {
    public var components: [Component] = []
    /// Keys that belong to no single component (pipeline tokenizers, schedulers, model_index).
    public var metadata: [(String, GGUFValue)] = []
    /// Files read for `metadata`, reported with the pipeline they belong to.
    public var metadataFiles: [String: [String]] = [:]

    public init() {}

    /// Attaches LoRA pairs to the tensors they update. A target found in no component, or with a
    /// shape that does not match B·A, is an error naming the adapter file and the target.
    public mutating func attach(_ adapter: LoraAdapter, to componentName: String? = nil) throws {
        for pair in adapter.pairs {
            var found = false
            for c in components.indices where componentName == nil || components[c].name == componentName {
                guard let t = components[c].tensors.firstIndex(where: { $0.name == pair.target }) else { continue }
                let base = components[c].tensors[t].source
                let expected = [pair.b.shape[0], pair.a.shape[1]]
                guard base.shape == expected else {
                    throw FormatError(pair.a.file.path, tensor: pair.target,
                                      "LoRA B·A is \(expected) but the base weight \(base.originalName) in \(base.file.path) is \(base.shape)")
                }
                components[c].tensors[t].lora.append(pair)
                found = true
                break
            }
            if !found {
                throw FormatError(adapter.source, tensor: pair.target, "LoRA target not found in \(componentName ?? "any component")")
            }
        }
    }
}
