using System.Runtime.CompilerServices;
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
    private static readonly ConditionalWeakTable<OnnxTransformer, string> GraphFiles = [];

    /// <summary>
    /// Creates the OnnxTransformer for <paramref name="modelBytes"/> and fits it on <paramref name="inputSchemaSource"/>;
    /// <paramref name="gpuDeviceId"/> selects a CUDA device (build with ReverseSdOnnxRuntime=cuda), null the CPU.
    /// </summary>
    public static OnnxTransformer Create(
        MLContext mlContext, byte[] modelBytes, string[] outputColumns, string[] inputColumns,
        IDataView inputSchemaSource, int? gpuDeviceId = null)
    {
        // Through a file of ours, not a stream: ML.NET never deletes its temporary copy of a stream (TemporaryOnnxFile).
        string path = TemporaryOnnxFile.Write(modelBytes);
        try
        {
            var transformer = mlContext.Transforms.ApplyOnnxModel(
                outputColumns, inputColumns, path, gpuDeviceId: gpuDeviceId, fallbackToCpu: true).Fit(inputSchemaSource);
            GraphFiles.Add(transformer, path);
            return transformer;
        }
        catch
        {
            TemporaryOnnxFile.Delete(path);
            throw;
        }
    }

    /// <summary>The temporary graph file behind a transformer made by <see cref="Create"/> (null once released).</summary>
    internal static string? GraphFileOf(OnnxTransformer transformer) => GraphFiles.TryGetValue(transformer, out string? path) ? path : null;

    /// <summary>Disposes a transformer made by <see cref="Create"/> and deletes its graph file.</summary>
    public static void Release(OnnxTransformer transformer)
    {
        ArgumentNullException.ThrowIfNull(transformer);
        transformer.Dispose();
        if (GraphFiles.TryGetValue(transformer, out string? path))
        {
            GraphFiles.Remove(transformer);
            TemporaryOnnxFile.Delete(path);
        }
    }
}
