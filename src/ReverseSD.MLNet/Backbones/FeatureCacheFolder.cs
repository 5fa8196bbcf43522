using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace ReverseSD.MLNet.Backbones;

/// <summary>The folder of one split and backbone inside a cache folder of <see cref="FeatureCache"/>.</summary>
internal sealed class FeatureCacheFolder(string cacheDirectory, string split, CachedBackbone backbone)
{
    private const string ManifestName = "cache.json";

    private readonly string _cacheDirectory = Path.GetFullPath(cacheDirectory);

    public string Root { get; } = Path.Combine(Path.GetFullPath(cacheDirectory),
        $"{split}-{SafeName(backbone.Name)}-{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(backbone.Fingerprint)))[..12]}");

    public string ManifestPath => Path.Combine(Root, ManifestName);

    public FeatureCacheManifest? ReadManifest() => ReadManifest(Root);

    public static FeatureCacheManifest? ReadManifest(string root)
    {
        string path = Path.Combine(root, ManifestName);
        if (!File.Exists(path)) return null;
        try
        {
            return JsonSerializer.Deserialize<FeatureCacheManifest>(File.ReadAllBytes(path), FeatureCacheManifest.JsonOptions);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Other cache folders of the same split (other backbones).</summary>
    public IEnumerable<string> SiblingsOfSameSplit() =>
        Directory.Exists(_cacheDirectory)
            ? Directory.GetDirectories(_cacheDirectory, split + "-*").Where(d => d != Root && File.Exists(Path.Combine(d, ManifestName))).Order(StringComparer.Ordinal)
            : [];

    public static string ShardFolderName(FeatureShard shard) => string.Create(CultureInfo.InvariantCulture, $"shard-{shard.Index}-of-{shard.Count}");

    public static string ChunkFileName(int chunk) => string.Create(CultureInfo.InvariantCulture, $"chunk-{chunk:D6}.bin");

    private static string SafeName(string name) =>
        new(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_').ToArray());
}
