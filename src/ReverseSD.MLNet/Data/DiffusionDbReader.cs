using System.Globalization;
using System.Numerics;
using Parquet;
using Parquet.Schema;

namespace ReverseSD.MLNet.Data;

/// <summary>
/// Reads DiffusionDB as downloaded (paper §4.1): <c>part-XXXXXX/</c> folders or <c>part-XXXXXX.zip</c> archives with
/// their images and <c>part-XXXXXX.json</c>, <c>metadata.parquet</c> / <c>metadata-large.parquet</c>, and PNGs that
/// carry their prompt in a "prompt" tEXt chunk. Both the 2M set (PNG) and the Large set (lossless WebP) are read.
/// Images inside archives are read in memory, never unpacked to disk. Every image is checked structurally; corrupt
/// files, records without an image and images without a prompt are counted, never fatal.
/// </summary>
public static partial class DiffusionDbReader
{
    /// <summary>The sampler names of metadata.parquet's uint8 codes 1..9 (index 0 unused).</summary>
    public static IReadOnlyList<string> SamplerCodes { get; } =
        ["", "ddim", "plms", "k_euler", "k_euler_ancestral", "k_heun", "k_dpm_2", "k_dpm_2_ancestral", "k_lms", "others"];

    /// <summary>
    /// Normalises a sampler name to metadata.parquet's spelling: lower case, '-'/' ' as '_', the "k_" prefix added to
    /// k-diffusion samplers, "_a" expanded to "_ancestral", "dpm2" to "dpm_2" ("K_EULER_A" → "k_euler_ancestral").
    /// Unknown names become "others"; null or blank stays null.
    /// </summary>
    public static string? NormalizeSampler(string? sampler)
    {
        if (string.IsNullOrWhiteSpace(sampler)) return null;
        string s = sampler.Trim().ToLowerInvariant().Replace('-', '_').Replace(' ', '_');
        if (int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int code)) return SamplerName(code);
        if (s is "ddim" or "plms") return s;
        if (s.StartsWith("k_", StringComparison.Ordinal)) s = s[2..];
        s = s.Replace("dpm2", "dpm_2", StringComparison.Ordinal);
        if (s.EndsWith("_a", StringComparison.Ordinal)) s = s[..^2] + "_ancestral";
        return s is "euler" or "euler_ancestral" or "heun" or "dpm_2" or "dpm_2_ancestral" or "lms" ? "k_" + s : "others";
    }

    /// <summary>The sampler name of a metadata.parquet code (1 ddim … 8 k_lms, 9 others); other codes give "others".</summary>
    public static string SamplerName(int code) => code is >= 1 and <= 9 ? SamplerCodes[code] : "others";

    /// <summary>Reads every source: folders (searched recursively), zip archives, part json files, parquet files, images.</summary>
    /// <param name="sources">Paths of folders or files; a missing path is a <see cref="ReverseSdInputException"/>.</param>
    /// <param name="options">Reader options, or null for defaults.</param>
    /// <param name="progress">Receives one report per folder or archive read.</param>
    /// <param name="cancellationToken">Cancels between files.</param>
    public static DiffusionDbReadResult Read(
        IEnumerable<string> sources, DiffusionDbReaderOptions? options = null, IProgress<ProgressReport>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sources);
        var state = new ReadState(options ?? new DiffusionDbReaderOptions(), cancellationToken);
        var (units, parquetFiles) = Discover(sources);
        for (int u = 0; u < units.Count; u++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (state.Options.MaxPairs is int max && state.RecordCount >= max) break;
            state.ReadUnit(units[u]);
            progress?.Report(new ProgressReport("read", u + 1, units.Count, Path.GetFileName(units[u].Path)));
        }
        foreach (var parquet in parquetFiles)
        {
            cancellationToken.ThrowIfCancellationRequested();
            state.ReadParquet(parquet);
        }
        return state.Finish();
    }

    internal static async Task<string?[]> Strings(ParquetRowGroupReader group, DataField field, int n)
    {
        var values = new string?[n];
        await group.ReadAsync(field, values.AsMemory()!, null);
        return values;
    }

    /// <summary>Reads any numeric column (uint8, uint16, uint32, float, ...) as doubles; null when the column is absent.</summary>
    internal static async Task<double?[]?> Numbers(ParquetRowGroupReader group, DataField? field, int n) =>
        field?.ClrType switch
        {
            null => null,
            var t when t == typeof(byte) => await Numbers<byte>(group, field, n),
            var t when t == typeof(sbyte) => await Numbers<sbyte>(group, field, n),
            var t when t == typeof(short) => await Numbers<short>(group, field, n),
            var t when t == typeof(ushort) => await Numbers<ushort>(group, field, n),
            var t when t == typeof(int) => await Numbers<int>(group, field, n),
            var t when t == typeof(uint) => await Numbers<uint>(group, field, n),
            var t when t == typeof(long) => await Numbers<long>(group, field, n),
            var t when t == typeof(ulong) => await Numbers<ulong>(group, field, n),
            var t when t == typeof(float) => await Numbers<float>(group, field, n),
            var t when t == typeof(double) => await Numbers<double>(group, field, n),
            _ => null,
        };

    internal static async Task<double?[]> Numbers<T>(ParquetRowGroupReader group, DataField field, int n) where T : struct, INumberBase<T>
    {
        var result = new double?[n];
        if (field.IsNullable)
        {
            var values = new T?[n];
            await group.ReadAsync<T>(field, values.AsMemory(), null);
            for (int i = 0; i < n; i++) result[i] = values[i] is T v ? double.CreateTruncating(v) : null;
        }
        else
        {
            var values = new T[n];
            await group.ReadAsync<T>(field, values.AsMemory(), null);
            for (int i = 0; i < n; i++) result[i] = double.CreateTruncating(values[i]);
        }
        return result;
    }

    /// <summary>A folder or an archive: the images and part json files that sit together.</summary>
    private sealed record Unit(string Path, bool IsArchive, List<string> Files);

    private static (List<Unit> Units, List<string> Parquet) Discover(IEnumerable<string> sources)
    {
        var folders = new SortedDictionary<string, Unit>(StringComparer.Ordinal);
        var archives = new List<Unit>();
        var parquet = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var source in sources)
        {
            string full = Path.GetFullPath(source);
            IEnumerable<string> files;
            if (Directory.Exists(full))
                files = Directory.EnumerateFiles(full, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal);
            else if (File.Exists(full))
                files = [full];
            else
                throw new ReverseSdInputException($"DiffusionDB source '{source}' does not exist: give part-XXXXXX folders or zips, part json files, metadata.parquet or images.");
            foreach (var file in files)
            {
                if (!seen.Add(file)) continue;
                string ext = Path.GetExtension(file).ToLowerInvariant();
                if (ext == ".zip") archives.Add(new Unit(file, true, []));
                else if (ext == ".parquet") parquet.Add(file);
                else if (ext == ".json" || ImageFiles.HasImageExtension(file))
                {
                    string dir = Path.GetDirectoryName(file)!;
                    if (!folders.TryGetValue(dir, out var unit)) folders[dir] = unit = new Unit(dir, false, []);
                    unit.Files.Add(file);
                }
            }
        }
        var units = folders.Values.Concat(archives).OrderBy(u => u.Path, StringComparer.Ordinal).ToList();
        return (units, parquet);
    }

    private sealed class Record(string imageName, string prompt, long? seed, int? steps, float? cfg, string? sampler)
    {
        public string ImageName { get; } = imageName;
        public string Prompt { get; } = prompt;
        public long? Seed { get; } = seed;
        public int? Steps { get; } = steps;
        public float? Cfg { get; } = cfg;
        public string? Sampler { get; } = sampler;
        public int? Width { get; set; }
        public int? Height { get; set; }
    }

    private sealed record FoundImage(ImageLocation Location, ImageCheck Check);
}
