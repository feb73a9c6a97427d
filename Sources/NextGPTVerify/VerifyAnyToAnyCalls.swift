import Foundation
import NextGPTAnyToAny
import NextGPTCore
import NextGPTKernels

/// Calls on NExT-GPT's own modules in the `nextgpt` component.
enum VerifyAnyToAnyCalls {
    static let all: [VerifyCall] = [outputProjection]

    static let outputProjection = VerifyCall(
        "output_projection", inputs: ["hidden", "input_embs"], outputs: ["out"],
        summary: "NExT-GPT's TextFcLayer (transformer mode) for one modality: hidden [1, N, H] (final-norm hidden states of the signal tokens) and input_embs [1, N, H] (their input embeddings) → out [1, Q, D]; args modality (\"image\", \"video\" or \"audio\", required), activations"
    ) { ctx in
        let name = try ctx.string("modality", default: "")
        guard let modality = SignalModality(rawValue: name) else {
            throw ProbeError("argument 'modality' must be \"image\", \"video\" or \"audio\", got \"\(name)\"")
        }
        let projector = try TextFcLayer(ctx.model, modality: modality, component: ctx.probe.component)
        do {
            return ["out": try projector(try ctx.input("hidden"), inputEmbs: try ctx.input("input_embs"), context: try ctx.activationsContext())]
        } catch let error as TextFcLayer.InputError {
            throw ProbeError(error.description)
        }
    }
}
