using System.Globalization;
using ReverseSD.MLNet.Heads;

namespace ReverseSD.Cli.Commands;

/// <summary>Parsers of the heads options train, ablate heads and analyze difficulty take.</summary>
internal static class HeadsArguments
{
    public static HeadConfiguration? ParseHead(string head) => head.Trim().ToLowerInvariant() switch
    {
        "vanilla" or "0" => HeadConfiguration.Vanilla,
        "1" => HeadConfiguration.Independent,
        "2" => HeadConfiguration.VocabularyFeedsEmbedding,
        "3" => HeadConfiguration.EmbeddingFeedsVocabulary,
        _ => null,
    };

    public static int[]? ParseHidden(string? hidden)
    {
        if (string.IsNullOrWhiteSpace(hidden) || hidden.Trim() == "none") return [];
        var sizes = new List<int>();
        foreach (var part in hidden.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int size) || size < 1) return null;
            sizes.Add(size);
        }
        return sizes.ToArray();
    }
}
