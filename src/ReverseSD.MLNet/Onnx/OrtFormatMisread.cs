namespace ReverseSD.MLNet.Onnx;

/// <summary>
/// ML.NET 5.0.1 loads each ONNX graph of a model zip by writing it to <c>Path.GetRandomFileName()</c>, an 8.3 name with a
/// random three-letter extension, and ONNX Runtime reads a file whose name ends in ".ort" as its own ORT format: once in
/// 32,768 graphs the extension is "ort", and that load fails with "ORT model verification failed" although the zip is
/// sound (dotnet/machinelearning#7339). The same load again draws another name.
/// </summary>
internal static class OrtFormatMisread
{
    /// <summary>ONNX Runtime's message when a file named *.ort is not a model in its ORT format.</summary>
    internal const string Message = "ORT model verification failed";

    /// <summary>Loads made in all before the failure is given up on (three misreads in a row: 1 in 2^45).</summary>
    internal const int Attempts = 3;

    /// <summary>True when <paramref name="exception"/> (or one it wraps, or ML.NET's text of one) is ONNX Runtime misreading a graph as ORT format.</summary>
    public static bool IsCause(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        // ML.NET wraps ONNX Runtime's exception, sometimes only as text ("Error initializing model :" + its ToString()).
        return exception.ToString().Contains(Message, StringComparison.Ordinal);
    }

    /// <summary>Runs <paramref name="load"/>, again (up to <see cref="Attempts"/> in all) when it failed because a temporary copy was named *.ort.</summary>
    public static T Retry<T>(Func<T> load)
    {
        ArgumentNullException.ThrowIfNull(load);
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return load();
            }
            catch (Exception e) when (attempt < Attempts && IsCause(e))
            {
            }
        }
    }
}
