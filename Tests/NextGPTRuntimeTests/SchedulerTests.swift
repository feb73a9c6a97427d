import Foundation
import NextGPTDiffusion
import NextGPTFormats
import NextGPTKernels
import NextGPTTestSupport
import XCTest

/// The four schedulers against diffusers 0.42 (tools/references/make_scheduler_cases.py): schedule
/// tables bit for bit where torch builds them in float32, and multi-step rollouts driven by the
/// same random model outputs and the same seeded noise generator.
final class SchedulerTests: XCTestCase {
    static var url: URL { URL(fileURLWithPath: "\(TestSupport.references)/schedulers.safetensors") }

    func testRolloutsMatchDiffusers() throws {
        let file = try SafetensorsFile.read(path: Self.url.path)
        XCTAssertGreaterThan(file.metadata.count, 10)
        for (name, json) in file.metadata.sorted(by: { $0.key < $1.key }) {
            try check(name, json, file)
        }
    }

    private func tensor(_ file: Checkpoint, _ name: String) throws -> Tensor {
        guard let source = file[name] else { throw SchedulerError.badConfig("fixture has no \(name)") }
        return Tensor(shape: source.shape, values: try source.readFloats())
    }

    private func check(_ name: String, _ json: String, _ file: Checkpoint) throws {
        let meta = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        let config = meta["config"] as! [String: Any]
        let override = (meta["override"] as? String).flatMap(SchedulerKind.init(rawValue:))
        let steps = (meta["steps"] as! NSNumber).intValue
        let eta = (meta["eta"] as! NSNumber).floatValue
        let rollout = (meta["rollout"] as! NSNumber).intValue
        let strength = (meta["strength"] as? NSNumber)?.doubleValue

        var scheduler = try Scheduler.from(config: SchedulerConfig(dictionary: config, as: override), eta: eta)
        try scheduler.setTimesteps(steps)

        let expectTimesteps = try tensor(file, "\(name).timesteps").values.map(Double.init)
        XCTAssertEqual(scheduler.timesteps, expectTimesteps, "\(name): timesteps")
        let expectCumprod = try tensor(file, "\(name).alphas_cumprod").values
        let cumprod: [Float]
        switch scheduler {
        case let s as PNDMScheduler: cumprod = s.schedule.alphasCumprod
        case let s as DDIMScheduler: cumprod = s.schedule.alphasCumprod
        case let s as EulerDiscreteScheduler: cumprod = s.schedule.alphasCumprod
        case let s as EulerAncestralDiscreteScheduler: cumprod = s.schedule.alphasCumprod
        default: cumprod = []
        }
        // Bit for bit except where torch takes a square root: its CPU sqrt goes through MKL's
        // vector math, which is not correctly rounded (1 ulp off in about a fifth of the entries);
        // ours is IEEE sqrt. Those entries may differ by 1 ulp and are counted in the report.
        let cumprodStats = ulpStats(cumprod, expectCumprod)
        XCTAssertEqual(cumprod.count, expectCumprod.count, "\(name): alphas_cumprod count")
        XCTAssertLessThanOrEqual(cumprodStats.maxRelative, config["rescale_betas_zero_snr"] as? Bool == true ? 1e-5 : 0,
                                 "\(name): alphas_cumprod")
        var sigmaStats = (differing: 0, maxUlps: 0, maxRelative: 0.0)
        if file["\(name).sigmas"] != nil {
            let expectSigmas = try tensor(file, "\(name).sigmas").values
            let sigmas = (scheduler as? EulerDiscreteScheduler)?.sigmas ?? (scheduler as? EulerAncestralDiscreteScheduler)?.sigmas ?? []
            XCTAssertEqual(sigmas.count, expectSigmas.count, "\(name): sigmas count")
            sigmaStats = ulpStats(sigmas, expectSigmas)
            XCTAssertLessThanOrEqual(sigmaStats.maxUlps, 1, "\(name): sigmas")
        }
        let expectInit = try tensor(file, "\(name).init_noise_sigma").values[0]
        XCTAssertLessThanOrEqual(ulpStats([scheduler.initNoiseSigma], [expectInit]).maxUlps, 1, "\(name): init_noise_sigma")
        print("SCHEDULE \(name): alphas_cumprod \(cumprodStats.differing) differ (max \(cumprodStats.maxUlps) ulp), "
              + "sigmas \(sigmaStats.differing) differ (max \(sigmaStats.maxUlps) ulp)")

        var timesteps = scheduler.timesteps
        if let strength {
            timesteps = scheduler.img2imgTimesteps(steps: steps, strength: strength)
            XCTAssertEqual(timesteps, try tensor(file, "\(name).img2img_timesteps").values.map(Double.init), "\(name): img2img")
            let noised = try scheduler.addNoise(original: try tensor(file, "\(name).image"),
                                                noise: try tensor(file, "\(name).noise"), timestep: timesteps[0])
            report(name, "add_noise", noised, try tensor(file, "\(name).noised"))
        }

        var generator = TorchGenerator(seed: 1234)
        var sample = try tensor(file, "\(name).sample0")
        var worst = 0.0
        for i in 0..<rollout {
            let scaled = try scheduler.scaleModelInput(sample, timestep: timesteps[i])
            report(name, "scaled.\(i)", scaled, try tensor(file, "\(name).scaled.\(i)"))
            let output = try tensor(file, "\(name).model_output.\(i)")
            let expect = try tensor(file, "\(name).prev.\(i)")
            sample = try scheduler.step(modelOutput: output, timestep: timesteps[i], sample: sample, generator: &generator)
            worst = max(worst, report(name, "prev.\(i)", sample, expect))
            // Follow the reference trajectory so each step is judged on its own.
            sample = expect
        }
        print(String(format: "SCHEDULER %-26@ %2d steps, worst step rel L2 %.3e", name as NSString, rollout, worst))
    }

    @discardableResult
    private func report(_ name: String, _ what: String, _ ours: Tensor, _ expect: Tensor) -> Double {
        XCTAssertEqual(ours.shape, expect.shape, "\(name) \(what): shape")
        let r = relativeL2(ours.values, expect.values)
        XCTAssertLessThanOrEqual(r, 1e-6, "\(name) \(what): rel L2 \(r)")
        return r
    }

    private func ulpStats(_ a: [Float], _ b: [Float]) -> (differing: Int, maxUlps: Int, maxRelative: Double) {
        var differing = 0, maxUlps = 0, maxRelative = 0.0
        for (x, y) in zip(a, b) where x.bitPattern != y.bitPattern {
            differing += 1
            maxUlps = max(maxUlps, abs(Int(Int32(bitPattern: x.bitPattern)) - Int(Int32(bitPattern: y.bitPattern))))
            maxRelative = max(maxRelative, abs(Double(x) - Double(y)) / max(abs(Double(y)), 1e-30))
        }
        return (differing, maxUlps, maxRelative)
    }

    func testSchedulerChoiceAndConfigErrors() throws {
        let sd15 = """
        {"_class_name": "PNDMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
         "num_train_timesteps": 1000, "set_alpha_to_one": false, "skip_prk_steps": true, "steps_offset": 1,
         "trained_betas": null, "clip_sample": false}
        """
        XCTAssertTrue(try Scheduler.from(config: sd15) is PNDMScheduler)
        let euler = try Scheduler.from(config: sd15, override: SchedulerKind(userName: "euler-a"))
        XCTAssertTrue(euler is EulerAncestralDiscreteScheduler)
        // Keys the PNDM file leaves out take Euler's own defaults, as from_config does.
        XCTAssertEqual(euler.config.timestepSpacing, .linspace)
        XCTAssertEqual(euler.config.stepsOffset, 1)
        XCTAssertThrowsError(try Scheduler.from(config: "[1]"))
        XCTAssertThrowsError(try Scheduler.from(config: #"{"_class_name": "LMSDiscreteScheduler"}"#))
        XCTAssertThrowsError(try Scheduler.from(config: #"{"beta_schedule": "sigmoid"}"#))
        XCTAssertThrowsError(try Scheduler.from(config: #"{"num_train_timesteps": "many"}"#))
        var pndm = try Scheduler.from(config: sd15)
        var generator = TorchGenerator(seed: 0)
        XCTAssertThrowsError(try pndm.step(modelOutput: Tensor(zeros: [1]), timestep: 1, sample: Tensor(zeros: [1]), generator: &generator))
        XCTAssertThrowsError(try pndm.setTimesteps(0))
    }

    /// PNDM (skip_prk_steps, SD 1.5 config) at very few steps, as diffusers 0.42's
    /// `set_timesteps(n)` gives them: one step runs once, two steps repeat the middle timestep.
    func testPNDMTimestepsAtFewSteps() throws {
        let config = """
        {"_class_name": "PNDMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
         "num_train_timesteps": 1000, "set_alpha_to_one": false, "skip_prk_steps": true, "steps_offset": 1}
        """
        for (steps, expected) in [(1, [1.0]), (2, [501, 1, 1]), (3, [667, 334, 334, 1])] {
            var scheduler = try Scheduler.from(config: config)
            try scheduler.setTimesteps(steps)
            XCTAssertEqual(scheduler.timesteps, expected, "\(steps) steps")
            var generator = TorchGenerator(seed: 0)
            var sample = Tensor(shape: [1, 4, 2, 2], values: (0..<16).map { Float($0) / 16 })
            for t in scheduler.timesteps {
                sample = try scheduler.step(modelOutput: sample, timestep: t, sample: sample, generator: &generator)
            }
            XCTAssertTrue(sample.values.allSatisfy(\.isFinite))
        }
    }
}

