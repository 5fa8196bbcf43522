using System.Text;
using System.Text.Json;

namespace ReverseSD.MLNet.Text;

/// <summary>
/// The m most frequent adjectives, nouns and verbs of the training prompts (paper §3, Eq. 2), the classes of the
/// vocabulary (multi-label) head. Words are lower-case; stop words, punctuation and non-alphabetic tokens are dropped,
/// and a word counts unless it is a closed-class word (<c>data/stopwords.txt</c>) or one WordNet lists only as an
/// adverb (<c>data/adverbs-only.txt</c>); words WordNet does not know (artist names, "artstation") count as nouns.
/// </summary>
public sealed class Vocabulary
{
    /// <summary>The paper's vocabulary size m.</summary>
    public const int DefaultSize = 1000;

    private const int FormatVersion = 1;

    private readonly string[] _words;
    private readonly long[] _counts;
    private readonly Dictionary<string, int> _index;

    private Vocabulary(string[] words, long[] counts)
    {
        _words = words;
        _counts = counts;
        _index = new Dictionary<string, int>(words.Length, StringComparer.Ordinal);
        for (int i = 0; i < words.Length; i++)
        {
            if (!_index.TryAdd(words[i], i))
                throw new ReverseSdInputException($"The vocabulary lists '{words[i]}' twice.");
        }
    }

    /// <summary>The words, most frequent first (ties in ordinal order); position j is label j of the vocabulary head.</summary>
    public IReadOnlyList<string> Words => _words;

    /// <summary>How often each word occurs in the training prompts.</summary>
    public IReadOnlyList<long> Counts => _counts;

    /// <summary>Number of words (m).</summary>
    public int Count => _words.Length;

    /// <summary>Position of <paramref name="word"/> (lower-case), or -1 when it is not in the vocabulary.</summary>
    public int IndexOf(string word) => _index.TryGetValue(word, out int i) ? i : -1;

    /// <summary>
    /// Builds the vocabulary from training prompts: counts every occurrence of each content word (as the official code's
    /// counter does) and keeps the <paramref name="size"/> most frequent (count descending, then ordinal word order).
    /// </summary>
    public static Vocabulary Build(IEnumerable<string> prompts, int size = DefaultSize)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (string prompt in prompts)
        {
            foreach (string word in ContentWords(prompt ?? ""))
                counts[word] = counts.GetValueOrDefault(word) + 1;
        }
        if (counts.Count == 0)
            throw new ReverseSdInputException("No adjective, noun or verb found in the training prompts: the vocabulary would be empty.");
        var top = counts.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).Take(size).ToList();
        return new Vocabulary(top.Select(kv => kv.Key).ToArray(), top.Select(kv => kv.Value).ToArray());
    }

    /// <summary>Creates a vocabulary from given words (lower-case, distinct), e.g. one loaded from a model.</summary>
    public static Vocabulary FromWords(IEnumerable<string> words)
    {
        ArgumentNullException.ThrowIfNull(words);
        var list = words.ToArray();
        if (list.Length == 0) throw new ReverseSdInputException("A vocabulary needs at least one word.");
        foreach (string w in list)
            if (string.IsNullOrEmpty(w) || Tokenize(w).SingleOrDefault() != w)
                throw new ReverseSdInputException($"Vocabulary word '{w}' is not one lower-case alphabetic word.");
        return new Vocabulary(list, new long[list.Length]);
    }

    /// <summary>
    /// Splits a prompt into lower-case tokens: runs of letters and digits, separated by anything else (spaces,
    /// punctuation, hyphens, apostrophes); tokens with a digit or of one letter are dropped.
    /// </summary>
    public static IEnumerable<string> Tokenize(string prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        var token = new StringBuilder();
        bool hasDigit = false;
        foreach (char c in prompt)
        {
            if (char.IsLetterOrDigit(c))
            {
                token.Append(char.ToLowerInvariant(c));
                hasDigit |= !char.IsLetter(c);
                continue;
            }
            if (token.Length > 1 && !hasDigit) yield return token.ToString();
            token.Clear();
            hasDigit = false;
        }
        if (token.Length > 1 && !hasDigit) yield return token.ToString();
    }

    /// <summary>The tokens of <paramref name="prompt"/> that may enter the vocabulary (not stop words, not adverb-only words).</summary>
    public static IEnumerable<string> ContentWords(string prompt) => Tokenize(prompt).Where(WordLists.IsContentWord);

    /// <summary>Serialises the words and counts as JSON (with a format version), to store beside or inside a model.</summary>
    public string ToJson() => JsonSerializer.Serialize(new Stored { Format = FormatVersion, Words = _words, Counts = _counts });

    /// <summary>Reads a vocabulary written by <see cref="ToJson"/>.</summary>
    public static Vocabulary FromJson(string json)
    {
        Stored? stored;
        try
        {
            stored = JsonSerializer.Deserialize<Stored>(json);
        }
        catch (JsonException e)
        {
            throw new ReverseSdInputException($"The stored vocabulary is not valid JSON: {e.Message}", e);
        }
        if (stored == null || stored.Format != FormatVersion || stored.Words == null || stored.Words.Length == 0)
            throw new ReverseSdInputException($"The stored vocabulary has format {stored?.Format}, but this version reads format {FormatVersion}.");
        var counts = stored.Counts is { } c && c.Length == stored.Words.Length ? c : new long[stored.Words.Length];
        var vocabulary = FromWords(stored.Words);
        Array.Copy(counts, vocabulary._counts, counts.Length);
        return vocabulary;
    }

    private sealed class Stored
    {
        public int Format { get; set; }
        public string[]? Words { get; set; }
        public long[]? Counts { get; set; }
    }
}

/// <summary>The embedded word lists (<c>data/stopwords.txt</c>, <c>data/adverbs-only.txt</c>) that decide which words count.</summary>
internal static class WordLists
{
    private static readonly Lazy<HashSet<string>> StopWords = new(() => Read("stopwords.txt"));
    private static readonly Lazy<HashSet<string>> AdverbsOnly = new(() => Read("adverbs-only.txt"));

    /// <summary>True when <paramref name="word"/> (lower-case, alphabetic) is an adjective, noun or verb candidate.</summary>
    public static bool IsContentWord(string word) => !StopWords.Value.Contains(word) && !AdverbsOnly.Value.Contains(word);

    /// <summary>True when the word is on the closed-class stop list.</summary>
    public static bool IsStopWord(string word) => StopWords.Value.Contains(word);

    /// <summary>True when WordNet lists the word only as an adverb.</summary>
    public static bool IsAdverbOnly(string word) => AdverbsOnly.Value.Contains(word);

    private static HashSet<string> Read(string file)
    {
        string name = "ReverseSD.MLNet.data." + file;
        using var stream = typeof(WordLists).Assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"Embedded resource '{name}' is missing from the build.");
        using var reader = new StreamReader(stream);
        var set = new HashSet<string>(StringComparer.Ordinal);
        while (reader.ReadLine() is { } line)
        {
            line = line.Trim();
            if (line.Length > 0 && line[0] != '#') set.Add(line);
        }
        return set;
    }
}
