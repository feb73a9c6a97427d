import NextGPTCore

/// Splits an original single-file checkpoint — Stable Diffusion 1.x (`v1-5-pruned-emaonly.safetensors`
/// / `.ckpt`) or AudioLDM (`audioldm-full-l.ckpt`), in the LDM/CompVis layout — into diffusers
/// components with diffusers names, exactly as diffusers' converters do
/// (`diffusers.loaders.single_file_utils.convert_ldm_{unet,vae,clip}_checkpoint`,
/// `scripts/convert_original_audioldm_to_diffusers.py`).
///
/// | original prefix                                  | component      | renaming                    |
/// |--------------------------------------------------|----------------|-----------------------------|
/// | `model.diffusion_model.`                         | `unet`         | ``LDMUNetStructure``        |
/// | `first_stage_model.` (but `vocoder.`)            | `vae`          | ``LDMVAEStructure``         |
/// | `first_stage_model.vocoder.` (AudioLDM)          | `vocoder`      | ``LDMVocoderNames``         |
/// | `cond_stage_model.transformer.` (CLIP)           | `text_encoder` | ``LDMTextEncoderNames/clip(_:)`` |
/// | `cond_stage_model.model.text_*` (AudioLDM CLAP)  | `text_encoder` | ``LDMTextEncoderNames/clap(_:)`` |
///
/// The UNet and VAE structure (levels, resnets per level, which levels have attention) is read from
/// the keys themselves, so no config is needed. Tensors are renamed, and the VAE's 1×1-conv attention
/// weights `[C, C, 1, 1]` become linear `[C, C]` as diffusers does; no bytes move.
///
/// Dropped on purpose and listed in ``LDMSplit/dropped``: the EMA copy (`model_ema.*`, flattened
/// names; diffusers also converts the non-EMA `model.diffusion_model.*` unless asked otherwise), the
/// noise-schedule buffers (`betas`, `alphas_cumprod`, `sqrt_*`, `posterior_*`, …), `logvar`,
/// `scale_factor` (AudioLDM's latent scale: diffusers puts it in the VAE config as `scaling_factor`;
/// read it from the file by that name), text-encoder `position_ids` / `token_type_ids`, CLAP's audio
/// tower and `text_transform`, VAE training-loss weights. Any other key is an error naming the file
/// and the key.
public enum LDMNames {
    public static let unet = "unet"
    public static let vae = "vae"
    public static let textEncoder = "text_encoder"
    public static let vocoder = "vocoder"

    public static func split(_ checkpoint: Checkpoint) throws -> LDMSplit {
        var routed: [Part: [Entry]] = [:]
        var dropped: [String] = []
        for tensor in checkpoint.tensors {
            switch try route(tensor.name, file: tensor.file.path) {
            case .drop: dropped.append(tensor.name)
            case .part(let part, let local): routed[part, default: []].append(Entry(tensor: tensor, local: local))
            }
        }
        guard !routed.isEmpty else {
            throw FormatError(checkpoint.files.first ?? "checkpoint",
                              "no Stable Diffusion / AudioLDM tensors (model.diffusion_model.*, first_stage_model.*, cond_stage_model.*)")
        }

        var split = LDMSplit(components: [:], dropped: [], constants: [:])
        for part in Part.allCases {
            guard let entries = routed[part] else { continue }
            let diffusersName: (String) throws -> String?
            switch part {
            case .unet:
                let structure = try infer(entries) { try LDMUNetStructure(inferringFrom: $0) }
                split.unet = structure
                diffusersName = structure.diffusersName(for:)
            case .vae:
                let structure = try infer(entries) { try LDMVAEStructure(inferringFrom: $0) }
                split.vae = structure
                diffusersName = structure.diffusersName(for:)
            case .vocoder: diffusersName = LDMVocoderNames.diffusersName(for:)
            case .clipText: diffusersName = LDMTextEncoderNames.clip(_:)
            case .clapText: diffusersName = LDMTextEncoderNames.clap(_:)
            }

            var component = split.components[part.component] ?? Checkpoint(
                tensors: [], files: checkpoint.files, metadata: checkpoint.metadata)
            var seen = Dictionary(component.tensors.map { ($0.name, $0.originalName) }, uniquingKeysWith: { a, _ in a })
            for entry in entries {
                let tensor = entry.tensor
                let name: String?
                do { name = try diffusersName(entry.local) } catch let problem as LDMNameProblem {
                    throw FormatError(tensor.file.path, tensor: tensor.originalName, problem.message)
                }
                guard let name else {
                    dropped.append(tensor.name)
                    continue
                }
                if let other = seen[name] {
                    throw FormatError(tensor.file.path, tensor: tensor.originalName,
                                      "maps to \(part.component) tensor '\(name)', as does '\(other)'")
                }
                seen[name] = tensor.originalName
                var renamed = tensor
                renamed.name = name
                if part == .vae { renamed = LDMVAEStructure.linearAttentionWeight(renamed) }
                component.tensors.append(renamed)
            }
            split.components[part.component] = component
            if part == .vocoder { split.constants[vocoder] = try LDMVocoderNames.constants(component) }
        }
        // dropped keys in file order
        let order = Dictionary(checkpoint.tensors.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        split.dropped = dropped.sorted { order[$0, default: 0] < order[$1, default: 0] }
        return split
    }

    // MARK: Routing by prefix

    /// The families of keys of an original checkpoint; CLIP and CLAP both become `text_encoder`.
    enum Part: CaseIterable {
        case unet, vae, vocoder, clipText, clapText

        var component: String {
            switch self {
            case .unet: return LDMNames.unet
            case .vae: return LDMNames.vae
            case .vocoder: return LDMNames.vocoder
            case .clipText, .clapText: return LDMNames.textEncoder
            }
        }
    }

    enum Route: Equatable {
        /// The family and the name below its prefix.
        case part(Part, String)
        case drop
    }

    struct Entry {
        var tensor: SourceTensor
        var local: String
    }

    /// Noise-schedule buffers of `ldm.models.diffusion.ddpm.DDPM` and the other top-level
    /// training-only tensors; diffusers' scheduler config replaces them.
    static let trainingOnlyKeys: Set<String> = [
        "betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod",
        "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod",
        "posterior_variance", "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2",
        "lvlb_weights", "logvar", "scale_factor",
    ]

    static func route(_ name: String, file: String) throws -> Route {
        if trainingOnlyKeys.contains(name) || name.hasPrefix("model_ema.") { return .drop }
        if let local = name.dropping(prefix: "model.diffusion_model.") { return .part(.unet, local) }
        if let local = name.dropping(prefix: "first_stage_model.vocoder.") { return .part(.vocoder, local) }
        if name.hasPrefix("first_stage_model.loss.") { return .drop }  // LPIPS / discriminator of VAE training
        if let local = name.dropping(prefix: "first_stage_model.") { return .part(.vae, local) }
        if let local = name.dropping(prefix: "cond_stage_model.transformer.") { return .part(.clipText, local) }
        if let local = name.dropping(prefix: "cond_stage_model.model.") {
            if LDMTextEncoderNames.isCLAPTextTower(local) { return .part(.clapText, local) }
            if LDMTextEncoderNames.isCLAPUnused(local) { return .drop }
            if LDMTextEncoderNames.isOpenCLIP(local) {
                throw FormatError(file, tensor: name, "OpenCLIP text encoder (Stable Diffusion 2.x) is not supported; expected SD 1.x CLIP (cond_stage_model.transformer.*) or AudioLDM CLAP (cond_stage_model.model.text_branch.*)")
            }
            throw FormatError(file, tensor: name, "unknown cond_stage_model key; expected AudioLDM CLAP (text_branch.*, text_projection.*, text_transform.*, audio_*)")
        }
        throw FormatError(file, tensor: name, "not part of a Stable Diffusion 1.x or AudioLDM checkpoint (expected model.diffusion_model.*, first_stage_model.*, cond_stage_model.*, or the schedule/EMA tensors that are dropped)")
    }

    /// Reads a structure from the keys; a problem names the key that showed it.
    private static func infer<S>(_ entries: [Entry], _ read: ([String]) throws -> S) throws -> S {
        do { return try read(entries.map(\.local)) } catch let problem as LDMNameProblem {
            let culprit = problem.key.flatMap { key in entries.first { $0.local == key }?.tensor }
            throw FormatError(culprit?.file.path ?? entries[0].tensor.file.path, tensor: culprit?.originalName, problem.message)
        }
    }
}

/// An original checkpoint split into diffusers components.
public struct LDMSplit: Sendable {
    /// `unet`, `vae`, `text_encoder` and, for AudioLDM, `vocoder`: the tensors of each component
    /// under diffusers names, in file order (`originalName` keeps the key of the file).
    public var components: [String: Checkpoint]
    /// Keys of the file left out on purpose, in file order.
    public var dropped: [String]
    /// Tensors diffusers' converter writes although the file lacks them, per component
    /// (AudioLDM's vocoder `mean` = 0 and `scale` = 1).
    public var constants: [String: [LDMConstant]]
    /// The UNet structure read from the keys, when the file has a UNet.
    public var unet: LDMUNetStructure?
    /// The VAE structure read from the keys, when the file has a VAE.
    public var vae: LDMVAEStructure?

    public subscript(component: String) -> Checkpoint? { components[component] }
}

/// A tensor filled with one value.
public struct LDMConstant: Sendable, Equatable {
    public var name: String
    public var shape: [Int]
    public var value: Float

    public init(name: String, shape: [Int], value: Float) {
        self.name = name
        self.shape = shape
        self.value = value
    }
}

/// A key the renaming does not know; carries the name below the component prefix.
struct LDMNameProblem: Error {
    var message: String
    var key: String?
    init(_ message: String, key: String? = nil) {
        self.message = message
        self.key = key
    }
}

extension String {
    func dropping(prefix: String) -> String? {
        hasPrefix(prefix) ? String(dropFirst(prefix.count)) : nil
    }
}

/// A dotted key split into its parts, for matching `a.b.3.weight`-style names.
struct LDMKey {
    let parts: [Substring]
    init(_ key: String) { parts = key.split(separator: ".", omittingEmptySubsequences: false) }

    var count: Int { parts.count }
    subscript(i: Int) -> Substring { parts[i] }
    /// The part at `i` as a non-negative decimal index.
    func index(_ i: Int) -> Int? {
        guard i < parts.count, !parts[i].isEmpty, parts[i].allSatisfy(\.isASCII), parts[i].allSatisfy(\.isNumber)
        else { return nil }
        return Int(parts[i])
    }
    /// The parts from `i` on, joined again.
    func tail(from i: Int) -> String { parts[i...].joined(separator: ".") }
    /// `weight` or `bias`.
    static func isLeaf<S: StringProtocol>(_ part: S) -> Bool { part == "weight" || part == "bias" }
    /// True when the key is one of `heads` followed by exactly `weight` or `bias`.
    static func isParameter(_ tail: String, of heads: [String]) -> Bool {
        heads.contains { tail == $0 + ".weight" || tail == $0 + ".bias" }
    }
}
