import Foundation
import NextGPTCore
import NextGPTDiffusion
import NextGPTKernels

/// Model-level calls on a diffusers UNet3DConditionModel component (`zeroscope.unet`).
enum VerifyUNet3DCalls {
    static let all: [VerifyCall] = [unet3d]

    static let unet3d = VerifyCall(
        "unet3d", inputs: ["sample", "encoder_hidden_states"], optionalInputs: ["timestep"], outputs: ["out"],
        components: ["zeroscope.unet"],
        summary: "UNet3DConditionModel(sample [N,C,F,H,W], timestep, encoder_hidden_states [N,S,D]).sample; input timestep [1 or N] or args timestep (number); args activations (\"runtime\" or \"f32\")"
    ) { ctx in
        let sample = try ctx.input("sample")
        let timesteps: [Double]
        if let tensor = try ctx.optionalInput("timestep") {
            timesteps = tensor.values.map(Double.init)
        } else if let value = try ctx.double("timestep") {
            timesteps = [value]
        } else {
            throw ProbeError("give the timestep as input 'timestep' or argument 'timestep'")
        }
        let model = try UNet3DConditionModel(ctx.model, component: ctx.probe.component)
        do {
            return ["out": try model(sample: sample, timestep: timesteps, encoderHiddenStates: try ctx.input("encoder_hidden_states"),
                                     context: try ctx.activationsContext())]
        } catch let error as UNetInputError {
            throw ProbeError(error.description)
        }
    }
}
