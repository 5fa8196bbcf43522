using System.IO.Compression;
using Microsoft.ML;

namespace ReverseSD.MLNet.Pipeline;

/// <summary>
/// Writes model zips: what <c>mlContext.Model.Save</c> writes, with the ONNX graphs ("OnnxModel" entries: float weights,
/// which deflate shrinks by under 15 %) stored uncompressed, so a load reads them without inflating tens of MB. Any zip
/// reader, a plain ML.NET app's included, reads stored entries as it reads compressed ones.
/// </summary>
internal static class ModelZip
{
    /// <summary>The entry name under which ML.NET's OnnxTransformer saves its graph.</summary>
    private const string OnnxGraphEntry = "OnnxModel";

    /// <summary>Saves <paramref name="model"/> with its input schema to <paramref name="path"/>, atomically.</summary>
    public static void Save(MLContext ml, ITransformer model, DataViewSchema inputSchema, string path) =>
        AtomicFile.Write(path, stream => Save(ml, model, inputSchema, stream));

    /// <summary>As <see cref="Save(MLContext, ITransformer, DataViewSchema, string)"/>, into <paramref name="destination"/>.</summary>
    public static void Save(MLContext ml, ITransformer model, DataViewSchema inputSchema, Stream destination)
    {
        // ML.NET's zip goes to a scratch file, not memory: a prompt bank can make it gigabytes.
        using var saved = new FileStream(Path.Combine(Path.GetTempPath(), "reversesd-save-" + Guid.NewGuid().ToString("N") + ".zip"),
            FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.DeleteOnClose);
        ml.Model.Save(model, inputSchema, saved);
        saved.Position = 0;
        using var source = new ZipArchive(saved, ZipArchiveMode.Read);
        using var target = new ZipArchive(destination, ZipArchiveMode.Create, leaveOpen: true);
        foreach (var entry in source.Entries)
        {
            var copy = target.CreateEntry(entry.FullName, entry.Name == OnnxGraphEntry ? CompressionLevel.NoCompression : CompressionLevel.Optimal);
            copy.LastWriteTime = entry.LastWriteTime;
            using var from = entry.Open();
            using var to = copy.Open();
            from.CopyTo(to);
        }
    }
}
