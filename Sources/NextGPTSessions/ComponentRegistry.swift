import Foundation
import NextGPTCore
import NextGPTDiffusion
import NextGPTFormats
import NextGPTImageBind
import NextGPTLayers
import NextGPTLlama

/// From a component's model class, as the container records it, to what builds it. Sessions and
/// the orchestrator load a component by asking for its class instead of knowing which
/// initialiser a prefix needs; a new model is one more entry here.
public struct ComponentRegistry: Sendable {
    /// Builds the model of a component from an opened container and the component's prefix.
    public typealias Loader = @Sendable (ModelFile, String) throws -> any Sendable

    public struct Entry: Sendable {
        /// The upstream class name (diffusers' `_class_name`, transformers' `architectures[0]`).
        public let className: String
        /// nil: a class the container can hold but this runtime cannot run yet.
        public let load: Loader?

        public init(_ className: String, load: Loader?) {
            self.className = className
            self.load = load
        }
    }

    public let entries: [String: Entry]

    public init(_ entries: [Entry]) {
        self.entries = Dictionary(entries.map { ($0.className, $0) }, uniquingKeysWith: { _, last in last })
    }

    /// Every class NExT-GPT's containers hold.
    public static let standard = ComponentRegistry([
        Entry("LlamaForCausalLM") { try LlamaForCausalLM($0, component: $1) },
        Entry("UNet2DConditionModel") { try UNet2DConditionModel($0, component: $1) },
        Entry("AutoencoderKL") { try AutoencoderKL($0, component: $1) },
        Entry("CLIPTextModel") { try CLIPTextModel($0, component: $1) },
        Entry("ImageBindModel") { try ImageBindModel($0, component: $1) },
        Entry("UNet3DConditionModel") { try UNet3DConditionModel($0, component: $1) },
        Entry("ClapTextModelWithProjection") { try ClapTextModelWithProjection($0, component: $1) },
        Entry("SpeechT5HifiGan") { try SpeechT5HifiGan($0, component: $1) },
    ])

    /// The class a container records for `component`: `_class_name` in a diffusers
    /// `<component>.config`, `architectures[0]` in a transformers one; ImageBind's config holds
    /// only constructor settings, so its source format (`imagebind-pth`) names it.
    public static func className(of component: String, in file: ModelFile) throws -> String {
        let path = file.container.file.path
        guard file.container.components.contains(component) else {
            throw FormatError(path, "no component '\(component)' (the file has \(file.container.components.joined(separator: ", ")))")
        }
        if case .string("imagebind-pth")? = file.metadata["\(component).source.format"] { return "ImageBindModel" }
        let key = "\(component).config"
        guard case .string(let text)? = file.metadata[key] else {
            throw FormatError(path, "component '\(component)' records no model class: it has no \(key)")
        }
        guard let config = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw FormatError(path, "\(key) is not a JSON object")
        }
        if let name = config["_class_name"] as? String { return name }
        if let name = (config["architectures"] as? [Any])?.first as? String { return name }
        throw FormatError(path, "component '\(component)' records no model class: \(key) has neither _class_name nor architectures")
    }

    /// The loader of `className`; the error names the class and the component.
    public func loader(forClass className: String, component: String, in path: String) throws -> Loader {
        guard let entry = entries[className] else {
            throw FormatError(path, "component '\(component)' is a \(className), a class this runtime has no loader for "
                + "(known: \(entries.keys.sorted().joined(separator: ", ")))")
        }
        guard let load = entry.load else {
            throw FormatError(path, "component '\(component)' is a \(className), which this runtime cannot run yet")
        }
        return load
    }

    /// Builds `component` with the loader its recorded class names.
    public func load(_ component: String, from file: ModelFile) throws -> any Sendable {
        let className = try Self.className(of: component, in: file)
        return try loader(forClass: className, component: component, in: file.container.file.path)(file, component)
    }

    /// Builds `component` and checks it is an `M` (e.g. `UNet2DConditionModel`).
    public func load<M>(_ component: String, from file: ModelFile, as type: M.Type) throws -> M {
        let model = try load(component, from: file)
        guard let typed = model as? M else {
            throw FormatError(file.container.file.path, "component '\(component)' is a \(Swift.type(of: model)), not a \(M.self)")
        }
        return typed
    }
}
