import Foundation

public enum SchedulerError: Error, CustomStringConvertible {
    case badConfig(String)
    case unsupported(String)
    case notReady(String)

    public var description: String {
        switch self {
        case .badConfig(let m): return "scheduler config: \(m)"
        case .unsupported(let m): return "scheduler: unsupported \(m)"
        case .notReady(let m): return "scheduler: \(m)"
        }
    }
}

public enum PredictionType: String, Sendable {
    case epsilon, vPrediction = "v_prediction", sample
}

public enum TimestepSpacing: String, Sendable {
    case leading, trailing, linspace
}

/// The scheduler classes this runtime implements, by diffusers `_class_name`.
public enum SchedulerKind: String, Sendable, CaseIterable {
    case pndm = "PNDMScheduler"
    case ddim = "DDIMScheduler"
    case euler = "EulerDiscreteScheduler"
    case eulerAncestral = "EulerAncestralDiscreteScheduler"

    /// The command-line names `pndm|ddim|euler|euler-a`.
    public init?(userName: String) {
        switch userName.lowercased() {
        case "pndm": self = .pndm
        case "ddim": self = .ddim
        case "euler": self = .euler
        case "euler-a", "euler_a", "euler-ancestral": self = .eulerAncestral
        default: return nil
        }
    }

    /// diffusers 0.42's `__init__` defaults, the values a key missing from the JSON takes.
    var defaults: [String: Any] {
        let common: [String: Any] = [
            "num_train_timesteps": 1000, "beta_start": 0.0001, "beta_end": 0.02, "beta_schedule": "linear",
            "prediction_type": "epsilon", "steps_offset": 0,
        ]
        let own: [String: Any]
        switch self {
        case .pndm:
            own = ["skip_prk_steps": false, "set_alpha_to_one": false, "timestep_spacing": "leading"]
        case .ddim:
            own = [
                "clip_sample": true, "set_alpha_to_one": true, "thresholding": false, "clip_sample_range": 1.0,
                "timestep_spacing": "leading", "rescale_betas_zero_snr": false,
            ]
        case .euler:
            own = [
                "interpolation_type": "linear", "use_karras_sigmas": false, "use_exponential_sigmas": false,
                "use_beta_sigmas": false, "timestep_spacing": "linspace", "timestep_type": "discrete",
                "rescale_betas_zero_snr": false, "final_sigmas_type": "zero",
            ]
        case .eulerAncestral:
            own = ["timestep_spacing": "linspace", "rescale_betas_zero_snr": false]
        }
        return common.merging(own) { _, new in new }
    }
}

/// A diffusers `scheduler_config.json` resolved for one scheduler class the way
/// `TargetScheduler.from_config(pipe.scheduler.config)` resolves it: keys written in the JSON win,
/// every other key takes the target class's default (diffusers records which keys were filled from
/// the source class's defaults in `_use_default_values` and drops them when swapping classes, so
/// Euler made from SD 1.5's PNDM config uses its own `linspace` spacing).
public struct SchedulerConfig: Sendable {
    public var kind: SchedulerKind
    public var numTrainTimesteps: Int
    public var betaStart: Double
    public var betaEnd: Double
    public var betaSchedule: String
    public var trainedBetas: [Double]?
    public var predictionType: PredictionType
    public var timestepSpacing: TimestepSpacing
    public var stepsOffset: Int
    public var setAlphaToOne: Bool
    public var skipPrkSteps: Bool
    public var clipSample: Bool
    public var clipSampleRange: Double
    public var rescaleBetasZeroSNR: Bool

    /// The class named by `_class_name` in `json` (PNDM when absent).
    public init(json: String, as target: SchedulerKind? = nil) throws {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)), let dict = object as? [String: Any]
        else { throw SchedulerError.badConfig("not a JSON object") }
        try self.init(dictionary: dict, as: target)
    }

    public init(dictionary: [String: Any], as target: SchedulerKind? = nil) throws {
        var source = SchedulerKind.pndm
        if let name = dictionary["_class_name"] as? String {
            if let known = SchedulerKind(rawValue: name) {
                source = known
            } else if target == nil {
                throw SchedulerError.unsupported("scheduler class \(name) (choose one of pndm, ddim, euler, euler-a)")
            }
        }
        let kind = target ?? source
        var values = kind.defaults
        for (key, value) in dictionary where !(value is NSNull) { values[key] = value }
        self.kind = kind

        func int(_ key: String) throws -> Int {
            guard let n = values[key] as? NSNumber else { throw SchedulerError.badConfig("\(key) must be a number") }
            return n.intValue
        }
        func double(_ key: String) throws -> Double {
            guard let n = values[key] as? NSNumber else { throw SchedulerError.badConfig("\(key) must be a number") }
            return n.doubleValue
        }
        func bool(_ key: String) throws -> Bool {
            guard let value = values[key] else { return false }
            guard let n = value as? NSNumber else { throw SchedulerError.badConfig("\(key) must be true or false") }
            return n.boolValue
        }
        func string(_ key: String) throws -> String {
            guard let s = values[key] as? String else { throw SchedulerError.badConfig("\(key) must be a string") }
            return s
        }

        numTrainTimesteps = try int("num_train_timesteps")
        guard numTrainTimesteps >= 2 else { throw SchedulerError.badConfig("num_train_timesteps \(numTrainTimesteps) < 2") }
        betaStart = try double("beta_start")
        betaEnd = try double("beta_end")
        betaSchedule = try string("beta_schedule")
        if let betas = values["trained_betas"] {
            guard let list = betas as? [NSNumber], list.count == numTrainTimesteps else {
                throw SchedulerError.badConfig("trained_betas must list \(numTrainTimesteps) numbers")
            }
            trainedBetas = list.map(\.doubleValue)
        }
        let prediction = try string("prediction_type")
        guard let p = PredictionType(rawValue: prediction == "original_sample" ? "sample" : prediction) else {
            throw SchedulerError.unsupported("prediction_type \(prediction)")
        }
        predictionType = p
        let spacing = try string("timestep_spacing")
        guard let s = TimestepSpacing(rawValue: spacing) else { throw SchedulerError.unsupported("timestep_spacing \(spacing)") }
        timestepSpacing = s
        stepsOffset = try int("steps_offset")
        setAlphaToOne = try bool("set_alpha_to_one")
        skipPrkSteps = try bool("skip_prk_steps")
        clipSample = try bool("clip_sample")
        clipSampleRange = values["clip_sample_range"] == nil ? 1 : try double("clip_sample_range")
        rescaleBetasZeroSNR = try bool("rescale_betas_zero_snr")

        if kind == .ddim, try bool("thresholding") {
            throw SchedulerError.unsupported("DDIM thresholding (dynamic thresholding is for pixel-space models)")
        }
        if kind == .euler {
            for key in ["use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas"] where try bool(key) {
                throw SchedulerError.unsupported("EulerDiscreteScheduler \(key)")
            }
            if try string("interpolation_type") != "linear" { throw SchedulerError.unsupported("interpolation_type \(values["interpolation_type"]!)") }
            if try string("final_sigmas_type") != "zero" { throw SchedulerError.unsupported("final_sigmas_type \(values["final_sigmas_type"]!)") }
            if try string("timestep_type") != "discrete" { throw SchedulerError.unsupported("timestep_type \(values["timestep_type"]!)") }
        }
        if kind == .pndm, predictionType == .sample {
            throw SchedulerError.unsupported("PNDMScheduler prediction_type sample")
        }
        if kind == .eulerAncestral, predictionType == .sample {
            throw SchedulerError.unsupported("EulerAncestralDiscreteScheduler prediction_type sample")
        }
        if trainedBetas == nil, !["linear", "scaled_linear", "squaredcos_cap_v2"].contains(betaSchedule) {
            throw SchedulerError.unsupported("beta_schedule \(betaSchedule)")
        }
    }
}
