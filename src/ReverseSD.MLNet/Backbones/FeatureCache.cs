using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Data;

namespace ReverseSD.MLNet.Backbones;

/// <summary>The featurised split returned by <see cref="FeatureCache.GetOrCompute"/>.</summary>
/// <param name="Data">Columns ImagePath, Prompt, VisualPrompt, IsNoisy, Domain and ImageFeatures (vector of <see cref="FeatureSize"/> floats).</param>
/// <param name="CachePath">The <c>.idv</c> file holding <paramref name="Data"/>.</param>
/// <param name="FromCache">True when an up-to-date cache was reused, false when the split was featurised now.</param>
/// <param name="Rows">Number of rows in <paramref name="Data"/>.</param>
/// <param name="FeatureSize">Length of the feature vectors.</param>
/// <param name="Skipped">Images left out because they do not decode (counted, never fatal).</param>
public sealed record FeatureCacheResult(
    IDataView Data, string CachePath, bool FromCache, int Rows, int FeatureSize, IReadOnlyList<UnreadableImage> Skipped);

/// <summary>
/// Featurises a data set split once with a backbone and keeps the result as an ML.NET binary data view (<c>.idv</c>),
/// keyed by the backbone's fingerprint (model hash + preprocessing) and the split's files (folder path, metadata.csv
/// bytes, and each image's size and modification time). A cache made with another backbone or other files is rebuilt, never reused.
/// </summary>
public static class FeatureCache
{
    private const int FormatVersion = 1;

    /// <summary>
    /// Returns the features of <paramref name="split"/> of the data set folder <paramref name="datasetDirectory"/>
    /// (see <see cref="ImageFolderDataset"/>), from <paramref name="cacheDirectory"/> when up to date, else computed
    /// now (unreadable images skipped and counted) and written there atomically.
    /// </summary>
    public static FeatureCacheResult GetOrCompute(
        MLContext mlContext, ImageBackbone backbone, string datasetDirectory, string split, string cacheDirectory,
        IProgress<ProgressReport>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(backbone);
        ArgumentException.ThrowIfNullOrWhiteSpace(datasetDirectory);
        ArgumentException.ThrowIfNullOrWhiteSpace(split);
        ArgumentException.ThrowIfNullOrWhiteSpace(cacheDirectory);

        var pairs = ImageFolderDataset.Read(datasetDirectory, split);
        string splitRoot = Path.GetFullPath(Path.Combine(datasetDirectory, split));
        string backboneKey = backbone.Fingerprint;
        string datasetKey = DatasetKey(splitRoot, pairs);
        string stem = $"{split}-{SafeName(backbone.Name)}-{Sha256Hex(backboneKey)[..12]}";
        string dataPath = Path.Combine(Path.GetFullPath(cacheDirectory), stem + ".idv");
        string keyPath = Path.Combine(Path.GetFullPath(cacheDirectory), stem + ".key.json");

        var cached = TryLoad(mlContext, dataPath, keyPath, backboneKey, datasetKey);
        if (cached != null) return cached;

        var rows = ImageFolderDataset.Load(mlContext, datasetDirectory, split);
        var paths = pairs.Select(p => Path.Combine(splitRoot, p.FileName)).ToList();
        var skipped = ImageValidation.FindUnreadable(paths, progress, cancellationToken);
        var bad = skipped.Select(s => s.Path).ToHashSet(StringComparer.Ordinal);
        var good = mlContext.Data.CreateEnumerable<ImagePromptRow>(rows, reuseRowObject: false).Where(r => !bad.Contains(r.ImagePath)).ToList();
        if (good.Count == 0)
            throw new ReverseSdInputException(
                $"No readable image in '{splitRoot}' ({skipped.Count} unreadable, e.g. '{skipped.FirstOrDefault()?.Path}': {skipped.FirstOrDefault()?.Reason}).");

        int featureSize = backbone.FeatureSize;
        var definition = SchemaDefinition.Create(typeof(FeaturizedRow));
        definition[nameof(FeaturizedRow.ImageFeatures)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, featureSize);

        var input = mlContext.Data.LoadFromEnumerable(good);
        using (var transformer = mlContext.Transforms.ApplyImageBackbone(backbone).Fit(input))
        {
            var featurised = transformer.Transform(input);
            // Materialised once: SaveAsBinary cursors its input more than once, and a streamed view would run
            // every image through the backbone again on each pass.
            var computed = Track(
                mlContext.Data.CreateEnumerable<FeaturizedRow>(featurised, reuseRowObject: false, schemaDefinition: definition),
                good.Count, $"Featurising {split} with {backbone.Name}", progress, cancellationToken).ToList();
            var view = mlContext.Data.LoadFromEnumerable(computed, definition);
            try
            {
                if (File.Exists(keyPath)) File.Delete(keyPath);
                AtomicFile.Write(dataPath, s => mlContext.Data.SaveAsBinary(view, s, keepHidden: false));
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException(cancellationToken);
            }
        }

        var key = new CacheKey
        {
            Format = FormatVersion,
            Backbone = backboneKey,
            Dataset = datasetKey,
            Rows = good.Count,
            FeatureSize = featureSize,
            Skipped = skipped.Select(s => new SkippedImage { Path = s.Path, Reason = s.Reason }).ToList(),
        };
        AtomicFile.WriteAllBytes(keyPath, JsonSerializer.SerializeToUtf8Bytes(key, JsonOptions));
        return new FeatureCacheResult(mlContext.Data.LoadFromBinary(dataPath), dataPath, false, good.Count, featureSize, skipped);
    }

    private static FeatureCacheResult? TryLoad(MLContext mlContext, string dataPath, string keyPath, string backboneKey, string datasetKey)
    {
        if (!File.Exists(dataPath) || !File.Exists(keyPath)) return null;
        CacheKey? key;
        try
        {
            key = JsonSerializer.Deserialize<CacheKey>(File.ReadAllBytes(keyPath), JsonOptions);
        }
        catch (JsonException)
        {
            return null;
        }
        if (key == null || key.Format != FormatVersion || key.Backbone != backboneKey || key.Dataset != datasetKey)
            return null;
        IDataView data;
        try
        {
            data = mlContext.Data.LoadFromBinary(dataPath);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or IOException)
        {
            return null;
        }
        var features = data.Schema.GetColumnOrNull(nameof(FeaturizedRow.ImageFeatures));
        if (features?.Type is not VectorDataViewType { Size: var size } || size != key.FeatureSize || data.GetRowCount() is long n && n != key.Rows)
            return null;
        var skipped = key.Skipped.Select(s => new UnreadableImage(s.Path, s.Reason)).ToList();
        return new FeatureCacheResult(data, dataPath, true, key.Rows, key.FeatureSize, skipped);
    }

    /// <summary>Hash of the split's folder path, its metadata.csv and each image's name, size and modification time.</summary>
    private static string DatasetKey(string splitRoot, IReadOnlyList<ImagePromptPair> pairs)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes(splitRoot + "\n"));   // the cache stores absolute image paths
        hash.AppendData(File.ReadAllBytes(Path.Combine(splitRoot, ImageFolderDataset.MetadataFileName)));
        foreach (var pair in pairs)
        {
            var info = new FileInfo(Path.Combine(splitRoot, pair.FileName));
            string line = info.Exists
                ? $"\n{pair.FileName}\t{info.Length.ToString(CultureInfo.InvariantCulture)}\t{info.LastWriteTimeUtc.Ticks.ToString(CultureInfo.InvariantCulture)}"
                : $"\n{pair.FileName}\tmissing";
            hash.AppendData(Encoding.UTF8.GetBytes(line));
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static IEnumerable<FeaturizedRow> Track(
        IEnumerable<FeaturizedRow> rows, int total, string stage, IProgress<ProgressReport>? progress, CancellationToken cancellationToken)
    {
        int done = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        foreach (var row in rows)
        {
            cancellationToken.ThrowIfCancellationRequested();
            done++;
            if (progress != null && (done % 8 == 0 || done == total))
                progress.Report(new ProgressReport(stage, done, total,
                    string.Create(CultureInfo.InvariantCulture, $"{clock.Elapsed.TotalMilliseconds / done:F1} ms/image")));
            yield return row;
        }
    }

    private static string Sha256Hex(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    private static string SafeName(string name) =>
        new(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_').ToArray());

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    private sealed class CacheKey
    {
        public int Format { get; set; }
        public string Backbone { get; set; } = "";
        public string Dataset { get; set; } = "";
        public int Rows { get; set; }
        public int FeatureSize { get; set; }
        public List<SkippedImage> Skipped { get; set; } = [];
    }

    private sealed class SkippedImage
    {
        public string Path { get; set; } = "";
        public string Reason { get; set; } = "";
    }
}

/// <summary>A featurised row as stored by <see cref="FeatureCache"/>.</summary>
internal sealed class FeaturizedRow
{
    public string ImagePath { get; set; } = "";
    public string Prompt { get; set; } = "";
    public string VisualPrompt { get; set; } = "";
    public bool IsNoisy { get; set; }
    public string Domain { get; set; } = "";
    public float[] ImageFeatures { get; set; } = [];
}
