using Microsoft.ML.OnnxRuntime;

namespace ReverseSD.MLNet.Onnx;

/// <summary>
/// The ONNX Runtime sessions the library creates itself (the fast featurisation path, the sentence encoder): full graph
/// optimisation, one inter-op thread, the given intra-op threads, on the CPU or, in a CUDA build, a CUDA device.
/// </summary>
internal static class OnnxSessions
{
    /// <summary>
    /// A session on <paramref name="model"/>. <paramref name="gpuDeviceId"/> selects a CUDA device (build with
    /// ReverseSdOnnxRuntime=cuda; a CPU build refuses it with a <see cref="ReverseSdInputException"/>), null the CPU.
    /// With <paramref name="allowSpinning"/> false, idle intra-op threads sleep instead of spinning (when other threads
    /// of the process, e.g. image decoders, share the cores).
    /// </summary>
    public static InferenceSession Create(byte[] model, int intraOpThreads, int? gpuDeviceId = null, bool allowSpinning = true)
    {
        ArgumentNullException.ThrowIfNull(model);
        using var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            IntraOpNumThreads = Math.Max(1, intraOpThreads),
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };
        if (!allowSpinning) options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        if (gpuDeviceId is int device)
        {
#if REVERSESD_CUDA
            options.AppendExecutionProvider_CUDA(device);
#else
            throw new ReverseSdInputException(
                $"GPU device {device} was requested, but this build uses the CPU ONNX Runtime: rebuild with -p:ReverseSdOnnxRuntime=cuda or leave the GPU device unset.");
#endif
        }
        return new InferenceSession(model, options);
    }
}
