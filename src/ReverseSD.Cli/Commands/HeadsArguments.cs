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

    /// <summary>"auto" → automatic epochs (at least the default count without validation); a whole number ≥ 1 → that many; else null.</summary>
    public static (int Epochs, bool Automatic)? ParseEpochs(string epochs) =>
        epochs.Trim().Equals("auto", StringComparison.OrdinalIgnoreCase) ? (PromptEmbeddingHeadsTrainer.Defaults.NumberOfEpochs, true)
        : int.TryParse(epochs, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n >= 1 ? (n, false) : null;

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
