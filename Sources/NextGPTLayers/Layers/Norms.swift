import Foundation
import NextGPTCore
import NextGPTKernels

/// `nn.GroupNorm(groups, channels, eps, affine=True)`.
public struct GroupNorm: Sendable {
    public let groups: Int
    public let eps: Float
    let weight: Tensor
    let bias: Tensor

    public init(_ w: Weights, groups: Int, channels: Int, eps: Float) throws {
        guard groups > 0, channels % groups == 0 else {
            throw w.error("weight", "\(channels) channels cannot form \(groups) groups")
        }
        self.groups = groups
        self.eps = eps
        weight = try w.tensor("weight", shape: [channels])
        bias = try w.tensor("bias", shape: [channels])
    }

    public func callAsFunction(_ x: Tensor, _ context: ExecutionContext) -> Tensor {
        context.measure("group_norm") {
            Normalization.groupNorm(x, groups: groups, weight: weight, bias: bias, eps: eps, context: context)
        }
    }

    /// The same, over x's own storage when nothing else holds it (`Normalization.groupNorm(inPlace:)`).
    public func normalize(_ x: inout Tensor, _ context: ExecutionContext) {
        context.measure("group_norm") {
            Normalization.groupNorm(inPlace: &x, groups: groups, weight: weight, bias: bias, eps: eps, context: context)
        }
    }
}

/// `nn.LayerNorm(dim, eps)` over the last dimension.
public struct LayerNorm: Sendable {
    public let eps: Float
    let weight: Tensor
    let bias: Tensor?

    public init(_ w: Weights, dim: Int, eps: Float, hasBias: Bool = true) throws {
        self.eps = eps
        weight = try w.tensor("weight", shape: [dim])
        bias = hasBias ? try w.tensor("bias", shape: [dim]) : nil
    }

    public func callAsFunction(_ x: Tensor, _ context: ExecutionContext) -> Tensor {
        context.measure("layer_norm") { Normalization.layerNorm(x, weight: weight, bias: bias, eps: eps, context: context) }
    }
}
