using System.IO.Compression;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using ReverseSD.MLNet.Heads;

namespace ReverseSD.Serving;

/// <summary>What a served model is: its format version, its image backbones and when it was saved.</summary>
/// <param name="Format">The model format version (a loaded model always has the version this build reads).</param>
/// <param name="Backbones">One line per image backbone: its feature column, feature size and input image size.</param>
/// <param name="TrainedAt">When training saved the zip (the time stamp of its entries), UTC; null when the zip has none.</param>
/// <param name="File">The zip's file name.</param>
public sealed record ModelDescription(string Format, IReadOnlyList<string> Backbones, DateTimeOffset? TrainedAt, string File)
{
    private sealed class PathRow
    {
        public string ImagePath { get; set; } = "";
    }

    /// <summary>Describes a model loaded from <paramref name="path"/> by walking its chain's schemas (nothing is scored).</summary>
    public static ModelDescription Of(MLContext mlContext, ITransformer model, string path)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(model);
        var schema = mlContext.Data.LoadFromEnumerable(Array.Empty<PathRow>()).Schema;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var imageSizes = new List<string>();
        var features = new List<(string Name, int Size)>();
        foreach (var stage in Stages(model))
        {
            schema = stage.GetOutputSchema(schema);
            foreach (var column in schema.Where(c => !c.IsHidden))
            {
                if (column.Type is ImageDataViewType { Height: > 0, Width: > 0 } image && seen.Add("image:" + column.Name))
                    imageSizes.Add($"{image.Width}×{image.Height}");
                else if (column.Type is VectorDataViewType { Size: > 0 } vector && column.Name.Contains("Features", StringComparison.Ordinal)
                         && !column.Name.Contains('.', StringComparison.Ordinal) && seen.Add("features:" + column.Name))
                    features.Add((column.Name, vector.Size));
            }
        }
        var backbones = features.Select((f, i) => i < imageSizes.Count && imageSizes.Count == features.Count
            ? $"{f.Name}: {f.Size}-d features of {imageSizes[i]} images"
            : $"{f.Name}: {f.Size}-d features").ToList();
        return new ModelDescription(ReverseSdModelFormat.Version, backbones, SavedAt(path), Path.GetFileName(path));
    }

    private static IEnumerable<ITransformer> Stages(ITransformer model)
    {
        if (model is IEnumerable<ITransformer> chain)
        {
            foreach (var stage in chain)
                foreach (var inner in Stages(stage))
                    yield return inner;
        }
        else yield return model;
    }

    private static DateTimeOffset? SavedAt(string path)
    {
        try
        {
            using var zip = ZipFile.OpenRead(path);
            return zip.Entries.Count == 0 ? null : zip.Entries.Max(e => e.LastWriteTime).ToUniversalTime();
        }
        catch (InvalidDataException)
        {
            return null;
        }
    }
}
