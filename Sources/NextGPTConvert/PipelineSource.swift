import Foundation
import NextGPTCore
import NextGPTFormats

/// A diffusion pipeline given on the command line: a diffusers folder or an original single file.
public enum PipelineSource {
    public static func load(_ path: String, pipeline: String, into plan: inout ConversionPlan) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw FormatError(path, "no such file or folder")
        }
        if isDir.boolValue {
            try DiffusersComponents.load(folder: path, pipeline: pipeline, into: &plan)
        } else {
            try SingleFilePipeline.load(file: path, pipeline: pipeline, into: &plan)
        }
    }
}

/// Original (LDM/CompVis) single-file checkpoints, renamed to diffusers names.
public enum SingleFilePipeline {
    public static func load(file: String, pipeline: String, into plan: inout ConversionPlan) throws {
        throw FormatError(file, "original single-file checkpoints are not supported for \(pipeline) yet; use the diffusers folder")
    }
}
