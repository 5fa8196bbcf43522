namespace ReverseSD.MLNet.Onnx;

/// <summary>
/// Hands an ONNX graph held in memory to ML.NET's <c>ApplyOnnxModel</c> as a file of ours, deleted when the transformer
/// made from it is disposed. ML.NET 5.0.1 copies a graph given as a stream to a temporary file (random 8.3 name, 64 MB
/// for ResNet18) that it never deletes, not even when its transformer is disposed; and it reads the file again when the
/// model is saved, so the file must live as long as the transformer.
/// </summary>
internal static class TemporaryOnnxFile
{
    /// <summary>Writes <paramref name="model"/> to a new file in the temporary folder and returns its path.</summary>
    public static string Write(byte[] model)
    {
        ArgumentNullException.ThrowIfNull(model);
        string path = Path.Combine(Path.GetTempPath(), $"reversesd-{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(path, model);
        return path;
    }

    /// <summary>Deletes a file made by <see cref="Write"/> (a file already gone, or one that cannot be deleted, is left as it is).</summary>
    public static void Delete(string? path)
    {
        if (path == null) return;
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
