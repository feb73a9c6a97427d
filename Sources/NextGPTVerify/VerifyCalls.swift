import NextGPTCore
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers
import NextGPTLlama

/// Everything a call sees while running one probe: its arguments, its bundle inputs, the
/// container's weights (restricted to the probe's component) and the execution context the
/// verifier runs in.
public struct ProbeContext {
    public let model: ModelFile
    public let bundle: ReferenceBundle
    public let probe: Probe
    /// The verifier's context, as its caller gave it.
    public let execution: ExecutionContext

    public var args: [String: JSONValue] { probe.args }

    /// `execution` with the matmul path that argument `activations` asks for: `"runtime"`
    /// (default: the runtime's own choice, 8-bit activations for small batches of quantized
    /// weights) or `"f32"` (f32 activations against dequantized weights, isolating weight
    /// quantization).
    public func activationsContext() throws -> ExecutionContext {
        var context = execution
        switch try string("activations", default: "runtime") {
        case "runtime": context.matmulPath = .automatic
        case "f32": context.matmulPath = .blas
        case let other: throw ProbeError("argument 'activations' must be \"runtime\" or \"f32\", got \"\(other)\"")
        }
        return context
    }

    /// The bundle tensor bound to call parameter `parameter`, as f32.
    public func input(_ parameter: String) throws -> Tensor {
        guard let name = probe.inputs[parameter] else { throw ProbeError("input '\(parameter)' is not given") }
        return try bundle.tensor(name)
    }

    /// The bundle tensor bound to optional call parameter `parameter`, or nil when not given.
    public func optionalInput(_ parameter: String) throws -> Tensor? {
        probe.inputs[parameter] == nil ? nil : try input(parameter)
    }

    /// The container tensor named by string argument `key` (a full container name that must belong
    /// to the probe's component), dequantized to f32 in its PyTorch shape; nil when the argument is absent or null.
    public func weight(_ key: String) throws -> Tensor? {
        guard let value = args[key], value != .null else { return nil }
        guard case .string(let name) = value else { throw ProbeError("argument '\(key)' must be a container tensor name") }
        return try rawWeight(name).dequantized()
    }

    public func requiredWeight(_ key: String) throws -> Tensor {
        guard let w = try weight(key) else { throw ProbeError("argument '\(key)' (a container tensor name) is required") }
        return w
    }

    /// The weight as stored (for calls that hand quantized weights to the kernels).
    public func rawWeight(_ name: String) throws -> Weight {
        guard let owner = model.container.component(of: name) else {
            throw ProbeError("tensor '\(name)' belongs to no component of the container")
        }
        guard owner == probe.component else {
            throw ProbeError("tensor '\(name)' belongs to component '\(owner)', not the probe's component '\(probe.component)'")
        }
        return try model.weight(name)
    }

    public func int(_ key: String, default fallback: Int) throws -> Int {
        guard let value = args[key], value != .null else { return fallback }
        guard case .number(let d) = value, d == d.rounded() else { throw ProbeError("argument '\(key)' must be an integer, got \(value)") }
        return Int(d)
    }

    /// An integer or a list of `count` integers (PyTorch's `int | tuple` convolution arguments).
    public func ints(_ key: String, count: Int, default fallback: Int) throws -> [Int] {
        guard let value = args[key], value != .null else { return [Int](repeating: fallback, count: count) }
        switch value {
        case .number: return [Int](repeating: try int(key, default: fallback), count: count)
        case .array(let items):
            let numbers = items.compactMap { item -> Int? in
                if case .number(let d) = item, d == d.rounded() { return Int(d) }
                return nil
            }
            guard numbers.count == items.count, numbers.count == count else {
                throw ProbeError("argument '\(key)' must be an integer or \(count) integers, got \(value)")
            }
            return numbers
        default: throw ProbeError("argument '\(key)' must be an integer or \(count) integers, got \(value)")
        }
    }

    public func double(_ key: String) throws -> Double? {
        guard let value = args[key], value != .null else { return nil }
        guard case .number(let d) = value else { throw ProbeError("argument '\(key)' must be a number, got \(value)") }
        return d
    }

    public func bool(_ key: String, default fallback: Bool) throws -> Bool {
        guard let value = args[key], value != .null else { return fallback }
        guard case .bool(let b) = value else { throw ProbeError("argument '\(key)' must be true or false, got \(value)") }
        return b
    }

    public func string(_ key: String, default fallback: String) throws -> String {
        guard let value = args[key], value != .null else { return fallback }
        guard case .string(let s) = value else { throw ProbeError("argument '\(key)' must be a string, got \(value)") }
        return s
    }
}

/// A problem running one probe (bad argument, shape mismatch, missing weight); the probe fails
/// with this message and the others still run.
public struct ProbeError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A computation the verifier can run: named inputs from the bundle, arguments, named outputs.
public struct VerifyCall: Sendable {
    public let name: String
    /// Bundle inputs the call needs; `optionalInputs` it may take.
    public let inputs: [String]
    public let optionalInputs: [String]
    public let outputs: [String]
    /// The components (container tensor prefixes) a probe of this call may name: a model call
    /// such as `logits` lists `vicuna`; empty for op-level calls, which take weights from any.
    public let components: [String]
    /// One line for `nextgpt verify --help` and errors.
    public let summary: String
    public let run: @Sendable (ProbeContext) throws -> [String: Tensor]

    public init(_ name: String, inputs: [String], optionalInputs: [String] = [], outputs: [String], components: [String] = [],
                summary: String, run: @escaping @Sendable (ProbeContext) throws -> [String: Tensor]) {
        self.name = name
        self.inputs = inputs
        self.optionalInputs = optionalInputs
        self.outputs = outputs
        self.components = components
        self.summary = summary
        self.run = run
    }
}

/// The calls a bundle may name. A new call (a whole component such as `logits` or `unet`) is one
/// more entry in `all`, e.g.
///
///     static let logits = VerifyCall("logits", inputs: ["tokens"], outputs: ["logits"], components: ["vicuna"],
///                                    summary: "LLaMA forward, last-layer logits") { ctx in
///         ["logits": try LlamaModel(ctx.model, component: ctx.probe.component).logits(try ctx.input("tokens"))]
///     }
public enum VerifyCalls {
    public static let all: [VerifyCall] = [
        linear, conv(1), conv(2), conv(3), convTranspose1d, groupNorm, layerNorm, rmsNorm, attention, softmax, gelu, silu,
    ] + VerifyUNetCalls.all + VerifyUNet3DCalls.all

    public static let registry: [String: VerifyCall] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })

    static func wrapShape<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as VerifyOps.ShapeError { throw ProbeError(error.description) }
    }

    static let linear = VerifyCall(
        "linear", inputs: ["x"], outputs: ["y"],
        summary: "y = x Wᵀ + b; args weight (container name), bias (optional)"
    ) { ctx in
        guard case .string(let name)? = ctx.args["weight"] else { throw ProbeError("argument 'weight' (a container tensor name) is required") }
        let x = try ctx.input("x"), w = try ctx.rawWeight(name), b = try ctx.weight("bias")
        return ["y": try wrapShape { try VerifyOps.linear(x, weight: w, bias: b, context: ctx.execution) }]
    }

    static func conv(_ spatial: Int) -> VerifyCall {
        VerifyCall(
            "conv\(spatial)d", inputs: ["x"], outputs: ["y"],
            summary: "torch conv\(spatial)d; args weight, bias (optional), stride, padding, dilation (int or \(spatial) ints), groups"
        ) { ctx in
            let x = try ctx.input("x"), w = try ctx.requiredWeight("weight"), b = try ctx.weight("bias")
            let stride = try ctx.ints("stride", count: spatial, default: 1)
            let padding = try ctx.ints("padding", count: spatial, default: 0)
            let dilation = try ctx.ints("dilation", count: spatial, default: 1)
            let groups = try ctx.int("groups", default: 1)
            return ["y": try wrapShape {
                try VerifyOps.convolution(x, weight: w, bias: b, spatial: spatial, stride: stride, padding: padding,
                                          dilation: dilation, groups: groups, context: ctx.execution)
            }]
        }
    }

    static let groupNorm = VerifyCall(
        "group_norm", inputs: ["x"], outputs: ["y"],
        summary: "torch group_norm over [N, C, *]; args num_groups, eps (1e-5), weight, bias (optional)"
    ) { ctx in
        let x = try ctx.input("x")
        guard ctx.args["num_groups"] != nil else { throw ProbeError("argument 'num_groups' is required") }
        let groups = try ctx.int("num_groups", default: 1)
        let (w, b) = (try ctx.weight("weight"), try ctx.weight("bias"))
        return ["y": try wrapShape { try VerifyOps.groupNorm(x, groups: groups, weight: w, bias: b, eps: try ctx.double("eps") ?? 1e-5, context: ctx.execution) }]
    }

    static let layerNorm = VerifyCall(
        "layer_norm", inputs: ["x"], outputs: ["y"],
        summary: "torch layer_norm over the last dims; args normalized_dims (1), eps (1e-5), weight, bias (optional)"
    ) { ctx in
        let x = try ctx.input("x")
        let (w, b) = (try ctx.weight("weight"), try ctx.weight("bias"))
        let dims = try ctx.int("normalized_dims", default: w?.rank ?? 1)
        return ["y": try wrapShape { try VerifyOps.layerNorm(x, normalizedDims: dims, weight: w, bias: b, eps: try ctx.double("eps") ?? 1e-5,
                                                          context: ctx.execution) }]
    }

    static let rmsNorm = VerifyCall(
        "rms_norm", inputs: ["x"], outputs: ["y"],
        summary: "x·rsqrt(mean(x²)+eps)·weight over the last dim; args eps (1e-6), weight (optional)"
    ) { ctx in
        let x = try ctx.input("x"), w = try ctx.weight("weight")
        return ["y": try wrapShape { try VerifyOps.rmsNorm(x, weight: w, eps: try ctx.double("eps") ?? 1e-6, context: ctx.execution) }]
    }

    static let attention = VerifyCall(
        "attention", inputs: ["q", "k", "v"], optionalInputs: ["attn_mask", "attn_bool_mask", "key_padding_mask"],
        outputs: ["out"],
        summary: "torch scaled_dot_product_attention, q [B,H,L,D], k/v [B,Hk,S,·]; optional inputs attn_mask (added to the scores), attn_bool_mask (nonzero = attend), key_padding_mask [B,S] (nonzero = ignore); args causal (false, true = \"top_left\", \"bottom_right\"), scale (1/√D)"
    ) { ctx in
        let (q, k, v) = (try ctx.input("q"), try ctx.input("k"), try ctx.input("v"))
        let mask: VerifyOps.CausalMask
        switch ctx.args["causal"] ?? .null {
        case .null, .bool(false): mask = .none
        case .bool(true), .string("top_left"): mask = .topLeft
        case .string("bottom_right"): mask = .bottomRight
        case let other: throw ProbeError("argument 'causal' must be true, false, \"top_left\" or \"bottom_right\", got \(other)")
        }
        let scale = try ctx.double("scale")
        let floatMask = try ctx.optionalInput("attn_mask"), boolMask = try ctx.optionalInput("attn_bool_mask")
        if floatMask != nil && boolMask != nil { throw ProbeError("give attn_mask or attn_bool_mask, not both") }
        let attnMask = floatMask ?? boolMask, boolean = boolMask != nil
        let keyPadding = try ctx.optionalInput("key_padding_mask")
        return ["out": try wrapShape {
            try VerifyOps.attention(q: q, k: k, v: v, mask: mask, scale: scale, attnMask: attnMask, maskIsBoolean: boolean,
                                    keyPadding: keyPadding, context: ctx.execution)
        }]
    }

    static let convTranspose1d = VerifyCall(
        "conv_transpose1d", inputs: ["x"], outputs: ["y"],
        summary: "torch conv_transpose1d; args weight [Cin, Cout/g, K], bias (optional), stride (1), padding (0), output_padding (0), groups (1), dilation (1)"
    ) { ctx in
        let x = try ctx.input("x"), w = try ctx.requiredWeight("weight"), b = try ctx.weight("bias")
        let (stride, padding) = (try ctx.int("stride", default: 1), try ctx.int("padding", default: 0))
        let (outputPadding, groups) = (try ctx.int("output_padding", default: 0), try ctx.int("groups", default: 1))
        let dilation = try ctx.int("dilation", default: 1)
        return ["y": try wrapShape {
            try VerifyOps.convTranspose1d(x, weight: w, bias: b, stride: stride, padding: padding, outputPadding: outputPadding,
                                          groups: groups, dilation: dilation, context: ctx.execution)
        }]
    }

    static let softmax = VerifyCall("softmax", inputs: ["x"], outputs: ["y"], summary: "torch softmax; args dim (-1)") { ctx in
        let x = try ctx.input("x"), dim = try ctx.int("dim", default: -1)
        return ["y": try wrapShape { try VerifyOps.softmax(x, dim: dim, context: ctx.execution) }]
    }

    static let gelu = VerifyCall("gelu", inputs: ["x"], outputs: ["y"], summary: "torch gelu; args approximate (\"none\" or \"tanh\")") { ctx in
        let x = try ctx.input("x")
        let mode = try ctx.string("approximate", default: "none")
        guard mode == "none" || mode == "tanh" else { throw ProbeError("argument 'approximate' must be \"none\" or \"tanh\", got \"\(mode)\"") }
        return ["y": VerifyOps.gelu(x, tanhApproximation: mode == "tanh", context: ctx.execution)]
    }

    static let silu = VerifyCall("silu", inputs: ["x"], outputs: ["y"], summary: "torch silu (x·sigmoid(x))") { ctx in
        ["y": VerifyOps.silu(try ctx.input("x"), context: ctx.execution)]
    }
}
