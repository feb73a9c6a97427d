import CNextGPTKernels
import Foundation

/// Which bodies of the matrix-product kernels run: the scalar twins, the baseline SIMD ones
/// (AVX2+FMA+F16C on x86-64, NEON on aarch64), or AVX-512 VNNI. An `ExecutionContext` carries
/// one; it starts at the machine's highest level, or lower when `NEXTGPT_KERNEL_LEVEL` asks, so
/// both paths can be compared on one machine. Element-wise kernels (norms, activations, f16
/// conversion) and OpenBLAS keep the process's own choice; the level decides the quantized and
/// f32/f16/bf16 matrix products (the direct kernels, the repacked decode kernels, the integer GEMM).
public enum KernelLevel: Sendable, Equatable, CaseIterable, CustomStringConvertible {
    case scalar
    case avx2
    case neon
    case avx512VNNI

    /// Position in the machine's ladder: scalar < baseline SIMD (avx2 or neon) < AVX-512 VNNI.
    var rank: Int {
        switch self {
        case .scalar: return Int(NGK_LEVEL_SCALAR)
        case .avx2, .neon: return Int(NGK_LEVEL_SIMD)
        case .avx512VNNI: return Int(NGK_LEVEL_AVX512_VNNI)
        }
    }

    /// The name `NEXTGPT_KERNEL_LEVEL` takes and the CLI prints.
    public var description: String {
        switch self {
        case .scalar: return "scalar"
        case .avx2: return "avx2"
        case .neon: return "neon"
        case .avx512VNNI: return "avx512-vnni"
        }
    }

    /// The highest level this CPU and OS run (cpuid and xgetbv, decided once per process).
    public static let machine: KernelLevel = level(rank: Int(ngk_kernel_level_max()))

    /// Whether this CPU runs a 256-bit vector op as two 128-bit halves (AMD Zen 1: cpuid's
    /// family and model, through `__builtin_cpu_is("znver1")`).
    public static let machineSplits256BitOps = ngk_cpu_splits_256bit_ops() != 0

    /// This machine's level at `rank` of the ladder.
    static func level(rank: Int) -> KernelLevel {
        switch rank {
        case ..<Int(NGK_LEVEL_SIMD): return .scalar
        case Int(NGK_LEVEL_SIMD):
            #if arch(arm64)
            return .neon
            #else
            return .avx2
            #endif
        default: return .avx512VNNI
        }
    }

    /// `requested` where this machine runs it, else the highest level below it that it does
    /// (a level is never raised past the machine's).
    public static func available(upTo requested: KernelLevel) -> KernelLevel {
        level(rank: min(requested.rank, machine.rank))
    }

    /// The level named `name` ("scalar", "avx2", "neon", "avx512-vnni"; "avx512" and "avx512vnni"
    /// too), nil for anything else.
    public init?(name: String) {
        switch name.lowercased() {
        case "scalar": self = .scalar
        case "avx2": self = .avx2
        case "neon": self = .neon
        case "avx512", "avx512-vnni", "avx512vnni", "avx512_vnni": self = .avx512VNNI
        default: return nil
        }
    }

    /// The environment variable that lowers the level of every context created while it is set.
    public static let environmentKey = "NEXTGPT_KERNEL_LEVEL"

    /// The level a new context takes under `environment`: the machine's, or the one
    /// `NEXTGPT_KERNEL_LEVEL` names (never above the machine's). A value that names no level is
    /// reported on stderr and ignored.
    static func fromEnvironment(_ environment: [String: String]) -> KernelLevel {
        guard let value = environment[environmentKey], !value.isEmpty else { return machine }
        guard let requested = KernelLevel(name: value) else {
            FileHandle.standardError.write(Data(
                "warning: \(environmentKey)=\(value) names no kernel level (scalar, avx2, neon, avx512-vnni); using \(machine)\n".utf8))
            return machine
        }
        return available(upTo: requested)
    }
}
