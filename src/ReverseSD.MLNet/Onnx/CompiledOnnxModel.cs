using Microsoft.ML;
using Microsoft.ML.Transforms.Onnx;

namespace ReverseSD.MLNet.Onnx;

/// <summary>
/// Wraps a compiled ONNX graph in ML.NET's own <see cref="OnnxTransformer"/>, so that a fitted stage
/// saves and loads with <c>mlContext.Model.Save/Load</c> and scores in an app that references only
/// Microsoft.ML and Microsoft.ML.OnnxTransformer (ARCHITECTURE.md, "What a model zip holds").
/// </summary>
internal static class CompiledOnnxModel
{
    /// <summary>
    /// Creates the OnnxTransformer for <paramref name="modelBytes"/> and fits it on <paramref name="inputSchemaSource"/>;
    /// <paramref name="gpuDeviceId"/> selects a CUDA device (build with ReverseSdOnnxRuntime=cuda), null the CPU.
    /// </summary>
    public static OnnxTransformer Create(
        MLContext mlContext, byte[] modelBytes, string[] outputColumns, string[] inputColumns,
        IDataView inputSchemaSource, int? gpuDeviceId = null)
    {
        using var stream = new MemoryStream(modelBytes, writable: false);
        var estimator = mlContext.Transforms.ApplyOnnxModel(
            outputColumns, inputColumns, stream, gpuDeviceId: gpuDeviceId, fallbackToCpu: true);
        return estimator.Fit(inputSchemaSource);
    }
}
