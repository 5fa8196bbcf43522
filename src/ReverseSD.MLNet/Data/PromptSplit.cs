using System.Globalization;

namespace ReverseSD.MLNet.Data;

/// <summary>Fractions of distinct prompts that go to train, validation and test (paper: 670 k / 30 k / 30 k ≈ 0.92/0.04/0.04).</summary>
/// <param name="Train">Fraction for the training split.</param>
/// <param name="Validation">Fraction for the validation split.</param>
/// <param name="Test">Fraction for the test split.</param>
public sealed record SplitFractions(double Train, double Validation, double Test)
{
    /// <summary>The default 0.92 / 0.04 / 0.04.</summary>
    public static SplitFractions Default { get; } = new(0.92, 0.04, 0.04);

    /// <summary>Parses "0.92,0.04,0.04"; throws <see cref="ReverseSdInputException"/> unless three non-negative numbers sum to 1.</summary>
    public static SplitFractions Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var values = new double[parts.Length];
        if (parts.Length != 3 || parts.Where((p, i) => !double.TryParse(p, NumberStyles.Float, CultureInfo.InvariantCulture, out values[i])).Any())
            throw new ReverseSdInputException($"split '{text}' must be three numbers separated by commas, e.g. 0.92,0.04,0.04.");
        var result = new SplitFractions(values[0], values[1], values[2]);
        result.Validate();
        return result;
    }

    /// <summary>Throws <see cref="ReverseSdInputException"/> unless the fractions are non-negative and sum to 1.</summary>
    public void Validate()
    {
        if (Train < 0 || Validation < 0 || Test < 0 || double.IsNaN(Train + Validation + Test) || Math.Abs(Train + Validation + Test - 1) > 1e-6)
            throw new ReverseSdInputException(
                $"split fractions {Train.ToString(CultureInfo.InvariantCulture)},{Validation.ToString(CultureInfo.InvariantCulture)},{Test.ToString(CultureInfo.InvariantCulture)} must be non-negative and sum to 1.");
    }
}

/// <summary>
/// Deterministic train/validation/test split by prompt: pairs whose prompts are equal after trimming and lower-casing
/// always land in the same split, so no prompt is shared between training and test (§4.1).
/// </summary>
public static class PromptSplit
{
    /// <summary>The key that groups pairs: the prompt trimmed and lower-cased (invariant culture).</summary>
    public static string KeyOf(string prompt) => prompt.Trim().ToLowerInvariant();

    /// <summary>
    /// Returns the split name (<c>train</c>, <c>validation</c>, <c>test</c>) of each prompt. The distinct keys are sorted
    /// ordinally and shuffled with <see cref="Random"/>(<paramref name="seed"/>); the first round(Train·k) keys go to
    /// train, the next round(Validation·k) to validation, the rest to test. Same prompts and seed give the same result.
    /// </summary>
    public static IReadOnlyList<string> Assign(IReadOnlyList<string> prompts, SplitFractions? fractions = null, int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        fractions ??= SplitFractions.Default;
        fractions.Validate();
        var keys = new string[prompts.Count];
        var distinct = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < prompts.Count; i++)
        {
            keys[i] = KeyOf(prompts[i]);
            distinct.Add(keys[i]);
        }
        var splitOf = SplitOfKeys(distinct, fractions, seed);
        return keys.Select(k => splitOf[k]).ToArray();
    }

    /// <summary>The split of each distinct key (see <see cref="Assign"/>): keys sorted ordinally, shuffled with the seed, cut by the fractions.</summary>
    internal static Dictionary<string, string> SplitOfKeys(IReadOnlyCollection<string> distinct, SplitFractions fractions, int seed)
    {
        var order = distinct.ToArray();
        Array.Sort(order, StringComparer.Ordinal);
        var splitOfSorted = SplitOfSortedKeys(order.Length, fractions, seed);
        var splitOf = new Dictionary<string, string>(order.Length, StringComparer.Ordinal);
        for (int i = 0; i < order.Length; i++) splitOf[order[i]] = ImageFolderDataset.Splits[splitOfSorted[i]];
        return splitOf;
    }

    /// <summary>
    /// The split index (0 train, 1 validation, 2 test) of the key at each position of the ordinally sorted distinct keys:
    /// the positions are shuffled with <see cref="Random"/>(<paramref name="seed"/>) and cut by the fractions.
    /// </summary>
    internal static byte[] SplitOfSortedKeys(int count, SplitFractions fractions, int seed)
    {
        var order = Enumerable.Range(0, count).ToArray();
        new Random(seed).Shuffle(order);
        int nTrain = (int)Math.Round(fractions.Train * count);
        int nValidation = Math.Min(count - nTrain, (int)Math.Round(fractions.Validation * count));
        var split = new byte[count];
        for (int j = 0; j < count; j++) split[order[j]] = (byte)(j < nTrain ? 0 : j < nTrain + nValidation ? 1 : 2);
        return split;
    }
}
