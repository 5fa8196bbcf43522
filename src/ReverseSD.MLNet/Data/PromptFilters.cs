namespace ReverseSD.MLNet.Data;

/// <summary>How many pairs each of the paper's four prompt filters (§4.1) changed or removed, in order.</summary>
/// <param name="Input">Pairs given to the filters.</param>
/// <param name="Trimmed">Filter (i): pairs whose prompt had leading or trailing white space removed (none are dropped).</param>
/// <param name="RemovedNoWordOrNull">Filter (ii): pairs dropped for having no word or a "Null"/"NaN" word.</param>
/// <param name="RemovedNonEnglish">Filter (iii): pairs dropped for a character outside the English character set.</param>
/// <param name="RemovedNearDuplicate">Filter (iv): pairs dropped as near duplicates of an already kept prompt.</param>
/// <param name="Kept">Pairs left after all four filters.</param>
/// <param name="KeptUniquePrompts">Distinct prompts among the kept pairs.</param>
public sealed record PromptFilterSummary(
    int Input, int Trimmed, int RemovedNoWordOrNull, int RemovedNonEnglish, int RemovedNearDuplicate, int Kept, int KeptUniquePrompts);

/// <summary>The kept items (prompts trimmed) and the per-filter counts.</summary>
/// <typeparam name="T">The pair type.</typeparam>
/// <param name="Kept">The items that passed all filters, in input order, with trimmed prompts.</param>
/// <param name="Summary">How many items each filter changed or removed.</param>
public sealed record PromptFilterResult<T>(IReadOnlyList<T> Kept, PromptFilterSummary Summary);

/// <summary>
/// The paper's four prompt filters (§4.1), applied in order: (i) trim white space; (ii) drop prompts without a word or
/// with a "Null"/"NaN" word; (iii) drop prompts with non-English characters; (iv) drop near duplicates of a kept prompt.
/// Each rule is a public method so it can be used and tested on its own.
/// </summary>
public static class PromptFilters
{
    /// <summary>Characters that must match at the start or the end for two prompts to be near duplicates (filter iv).</summary>
    public const int NearDuplicateLength = 50;

    /// <summary>Filter (i): removes leading and trailing white space (any Unicode white space).</summary>
    public static string Trim(string prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        return prompt.Trim();
    }

    /// <summary>
    /// Filter (ii): true when the prompt has at least one word and no "Null"/"NaN" word. A word is a maximal run of
    /// letters or digits (any script; filter iii judges the script). "null" matches in any case ("Null", "NULL");
    /// "NaN" matches as "NaN" or "NAN", and lower-case "nan" only when it is the whole prompt, so the photographer
    /// "nan goldin" or "Nan" in a name stays. Words inside longer words ("nullify", "banana") never match.
    /// </summary>
    public static bool HasWordsAndNoNullOrNaN(string prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        int words = 0;
        int i = 0;
        while (i < prompt.Length)
        {
            if (!char.IsLetterOrDigit(prompt[i])) { i++; continue; }
            int start = i;
            while (i < prompt.Length && char.IsLetterOrDigit(prompt[i])) i++;
            var word = prompt.AsSpan(start, i - start);
            words++;
            if (word.Equals("null", StringComparison.OrdinalIgnoreCase)) return false;
            if (word.SequenceEqual("NaN") || word.SequenceEqual("NAN")) return false;
            if (word.Equals("nan", StringComparison.OrdinalIgnoreCase) && prompt.AsSpan().Trim().Length == word.Length) return false;
        }
        return words > 0;
    }

    /// <summary>
    /// Filter (iii): true when every character is printable ASCII (U+0020..U+007E: basic Latin letters, digits and
    /// punctuation), a tab or line break, or one of the typographic marks English text commonly carries (curly quotes
    /// ‘ ’ “ ”, en/em dashes – —, ellipsis …, no-break space). Accented letters (é, ø), other scripts, emoji and
    /// full-width punctuation make a prompt non-English.
    /// </summary>
    public static bool HasOnlyEnglishCharacters(string prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        foreach (char c in prompt)
        {
            if (c is >= ' ' and <= '~' or '\t' or '\n' or '\r') continue;
            if (c is '\u2018' or '\u2019' or '\u201C' or '\u201D' or '\u2013' or '\u2014' or '\u2026' or '\u00A0') continue;
            return false;
        }
        return true;
    }

    /// <summary>
    /// Applies filters (i)–(iv) in order to items carrying a prompt and returns the kept items with trimmed prompts.
    /// Every pair of a kept prompt stays (the same prompt used for several images is not a near duplicate of itself).
    /// </summary>
    /// <param name="items">The pairs, in the order that decides which of two near duplicates is kept (the first).</param>
    /// <param name="getPrompt">Reads an item's prompt.</param>
    /// <param name="withPrompt">Returns the item with its prompt replaced by the trimmed one.</param>
    /// <param name="cancellationToken">Cancels the work.</param>
    public static PromptFilterResult<T> Apply<T>(
        IReadOnlyList<T> items, Func<T, string> getPrompt, Func<T, string, T> withPrompt, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(getPrompt);
        ArgumentNullException.ThrowIfNull(withPrompt);
        int trimmed = 0, noWord = 0, nonEnglish = 0, nearDuplicate = 0;
        var kept = new List<T>(items.Count);
        var near = new NearDuplicateFilter();
        // Filters (ii)-(iv) depend only on the prompt text: decide once per distinct raw prompt.
        var decisions = new Dictionary<string, (string Trimmed, int Verdict)>(StringComparer.Ordinal);
        for (int k = 0; k < items.Count; k++)
        {
            if ((k & 0xFFFF) == 0) cancellationToken.ThrowIfCancellationRequested();
            var item = items[k];
            string raw = getPrompt(item) ?? "";
            if (!decisions.TryGetValue(raw, out var d))
            {
                string t = Trim(raw);
                int verdict = !HasWordsAndNoNullOrNaN(t) ? 2 : !HasOnlyEnglishCharacters(t) ? 3 : !near.TryKeep(t) ? 4 : 0;
                decisions[raw] = d = (t, verdict);
            }
            if (d.Trimmed.Length != raw.Length) trimmed++;
            switch (d.Verdict)
            {
                case 2: noWord++; break;
                case 3: nonEnglish++; break;
                case 4: nearDuplicate++; break;
                default: kept.Add(ReferenceEquals(d.Trimmed, raw) ? item : withPrompt(item, d.Trimmed)); break;
            }
        }
        return new PromptFilterResult<T>(kept, new PromptFilterSummary(
            items.Count, trimmed, noWord, nonEnglish, nearDuplicate, kept.Count, near.KeptCount));
    }

    /// <summary>Applies the four filters to plain prompts.</summary>
    public static PromptFilterResult<string> Apply(IReadOnlyList<string> prompts, CancellationToken cancellationToken = default) =>
        Apply(prompts, p => p, (_, t) => t, cancellationToken);
}

/// <summary>
/// Filter (iv): a prompt is a near duplicate when its first or last <see cref="PromptFilters.NearDuplicateLength"/>
/// characters (ordinal, case-sensitive) equal those of a different, already kept prompt. Expected O(1) per prompt: the
/// kept prompts' prefixes and suffixes sit in hash sets. Shorter prompts cannot share that many characters with
/// another prompt, so they are never near duplicates; an exact repeat of a kept prompt is the same prompt and is kept,
/// and an exact repeat of a dropped prompt is dropped again.
/// </summary>
public sealed class NearDuplicateFilter
{
    // The first and last characters of each kept prompt, as (prompt, start) slices: no substring is allocated (at 2 M prompts
    // substrings were about 300 MB).
    private readonly HashSet<Slice> _byPrefix = new(SliceComparer.Instance);
    private readonly HashSet<Slice> _bySuffix = new(SliceComparer.Instance);
    private readonly Dictionary<string, bool> _seen = new(StringComparer.Ordinal);

    /// <summary>Distinct prompts kept so far.</summary>
    public int KeptCount { get; private set; }

    /// <summary>Returns true and remembers the prompt when it is kept; false when it is a near duplicate of a kept one.</summary>
    public bool TryKeep(string prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        if (_seen.TryGetValue(prompt, out bool wasKept)) return wasKept;
        const int n = PromptFilters.NearDuplicateLength;
        bool keep = true;
        if (prompt.Length >= n)
        {
            // A different prompt with the same prefix or suffix was kept before: this one is a near duplicate.
            Slice prefix = new(prompt, 0), suffix = new(prompt, prompt.Length - n);
            keep = !_byPrefix.Contains(prefix) && !_bySuffix.Contains(suffix);
            if (keep)
            {
                _byPrefix.Add(prefix);
                _bySuffix.Add(suffix);
            }
        }
        _seen[prompt] = keep;
        if (keep) KeptCount++;
        return keep;
    }

    /// <summary>The <see cref="PromptFilters.NearDuplicateLength"/> characters of <paramref name="Text"/> from <paramref name="Start"/>.</summary>
    private readonly record struct Slice(string Text, int Start)
    {
        public ReadOnlySpan<char> Span => Text.AsSpan(Start, PromptFilters.NearDuplicateLength);
    }

    private sealed class SliceComparer : IEqualityComparer<Slice>
    {
        public static readonly SliceComparer Instance = new();

        public bool Equals(Slice x, Slice y) => x.Span.SequenceEqual(y.Span);

        public int GetHashCode(Slice slice) => string.GetHashCode(slice.Span, StringComparison.Ordinal);
    }
}
