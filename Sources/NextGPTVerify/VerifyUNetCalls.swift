import Foundation
import NextGPTCore
import NextGPTDiffusion
import NextGPTKernels

/// Model-level calls on a diffusers UNet2DConditionModel component (`sd15.unet`, `audioldm.unet`).
enum VerifyUNetCalls {
    static let all: [VerifyCall] = [unet]

    static let unet = VerifyCall(
        "unet", inputs: ["sample"], optionalInputs: ["encoder_hidden_states", "class_labels", "timestep"], outputs: ["out"],
        components: ["sd15.unet", "audioldm.unet"],
        summary: "UNet2DConditionModel(sample [N,C,H,W], timestep, encoder_hidden_states [N,S,D]?, class_labels?).sample; input timestep [1 or N] or args timestep (number); args activations (\"runtime\" or \"f32\")"
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
        let model = try UNet2DConditionModel(ctx.model, component: ctx.probe.component)
        let (encoderHiddenStates, classLabels) = (try ctx.optionalInput("encoder_hidden_states"), try ctx.optionalInput("class_labels"))
        do {
            return ["out": try model(sample: sample, timestep: timesteps, encoderHiddenStates: encoderHiddenStates,
                                     classLabels: classLabels, context: try ctx.activationsContext())]
        } catch let error as UNetInputError {
            throw ProbeError(error.description)
        }
    }
}
