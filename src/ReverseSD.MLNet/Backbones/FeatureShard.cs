using System.Globalization;
using System.Text;

namespace ReverseSD.MLNet.Backbones;

/// <summary>
/// One of <see cref="Count"/> deterministic parts of a data set split (<see cref="Index"/> counts from 0), so a split can be
/// featurised by N processes, pods or array tasks that never overlap. A row belongs to shard
/// FNV-1a-64(<c>split/file_name</c>) mod N: the path is relative to the data folder, so the same data mounted elsewhere
/// shards the same way.
/// </summary>
/// <param name="Index">Shard number, 0 ≤ Index &lt; Count.</param>
/// <param name="Count">Number of shards N (1 = the whole split).</param>
public readonly record struct FeatureShard(int Index, int Count)
{
    /// <summary>The environment variables read for the shard index, in order: Kubernetes Indexed Job, Slurm job array.</summary>
    public static IReadOnlyList<string> IndexVariables { get; } = ["JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID"];

    /// <summary>The whole split as one shard (0/1).</summary>
    public static FeatureShard All => new(0, 1);

    /// <summary>Parses <c>K/N</c>, or <c>/N</c> or <c>N</c> to take K from <see cref="IndexVariables"/>; throws <see cref="ReverseSdInputException"/> on bad input.</summary>
    public static FeatureShard Parse(string text, Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        string t = (text ?? "").Trim();
        int slash = t.IndexOf('/', StringComparison.Ordinal);
        string indexText = slash < 0 ? "" : t[..slash].Trim();
        string countText = slash < 0 ? t : t[(slash + 1)..].Trim();
        if (!int.TryParse(countText, NumberStyles.None, CultureInfo.InvariantCulture, out int count) || count < 1)
            throw new ReverseSdInputException($"--shard '{text}' is not K/N with N ≥ 1 (e.g. --shard 0/3; K counts from 0).");
        int index;
        if (indexText.Length == 0)
        {
            var (name, value) = IndexVariables.Select(v => (v, environment(v))).FirstOrDefault(p => !string.IsNullOrWhiteSpace(p.Item2));
            if (name == null)
                throw new ReverseSdInputException(
                    $"--shard '{text}' gives no shard index and neither {string.Join(" nor ", IndexVariables)} is set: give --shard K/{count}.");
            if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out index))
                throw new ReverseSdInputException($"{name}='{value}' is not a shard index (a whole number from 0).");
        }
        else if (!int.TryParse(indexText, NumberStyles.None, CultureInfo.InvariantCulture, out index))
            throw new ReverseSdInputException($"--shard '{text}' is not K/N (e.g. --shard 0/3; K counts from 0).");
        if (index >= count)
            throw new ReverseSdInputException(
                $"Shard index {index} is out of range for {count} shards: K counts from 0 to {count - 1} (Slurm: --array=0-{count - 1}).");
        return new FeatureShard(index, count);
    }

    /// <summary>The shard (0 ≤ result &lt; <paramref name="count"/>) of the image <paramref name="fileName"/> of <paramref name="split"/>.</summary>
    public static int Of(string split, string fileName, int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        return (int)(Fnv1a64(split + "/" + fileName.Replace('\\', '/')) % (ulong)count);
    }

    /// <summary>"K/N".</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Index}/{Count}");

    /// <summary>64-bit FNV-1a of the UTF-8 bytes (stable across processes, machines and .NET versions, unlike string.GetHashCode).</summary>
    internal static ulong Fnv1a64(string text)
    {
        ulong hash = 14695981039346656037UL;
        foreach (byte b in Encoding.UTF8.GetBytes(text))
        {
            hash ^= b;
            hash *= 1099511628211UL;
        }
        return hash;
    }
}
