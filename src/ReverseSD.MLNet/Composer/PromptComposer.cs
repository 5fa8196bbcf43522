using System.Diagnostics;
using ReverseSD.MLNet.Retrieval;
using ReverseSD.MLNet.Text;

namespace ReverseSD.MLNet.Composer;

/// <summary>How a prompt is made from a predicted embedding.</summary>
public enum CompositionMethod
{
    /// <summary>No composition: the nearest bank prompt is the answer.</summary>
    None = 0,

    /// <summary>The plain greedy baseline: from the top-1 prompt, append or drop one phrase per step (3 steps).</summary>
    Greedy = 1,

    /// <summary>Beam search over phrase edits, candidates pre-ranked by an additive estimate before they are embedded.</summary>
    Beam = 2,
}

/// <summary>Options of <see cref="PromptComposer"/>.</summary>
public sealed class PromptComposerOptions
{
    /// <summary>Prompts returned as nearest prompts, and bank neighbours whose phrases are edits.</summary>
    public int Neighbors { get; set; } = 10;

    /// <summary>Most frequent bank phrases used as edits ("highly detailed", "trending on artstation", artists).</summary>
    public int FrequentPhrases { get; set; } = 40;

    /// <summary>Most probable vocabulary words (when given) used as edits.</summary>
    public int VocabularyWords { get; set; } = 10;

    /// <summary>Beam: prompts kept per step (the start is the top bank prompts).</summary>
    public int BeamWidth { get; set; } = 4;

    /// <summary>Beam: at most this many steps. The greedy baseline always uses 3.</summary>
    public int Steps { get; set; } = 5;

    /// <summary>Beam: candidate prompts embedded per step (the best by the additive estimate).</summary>
    public int CandidatesPerStep { get; set; } = 24;

    /// <summary>Stop when a step gains less than this cosine.</summary>
    public float MinimumGain { get; set; } = 1e-4f;

    /// <summary>Throws a <see cref="ArgumentOutOfRangeException"/> naming the first option out of range.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(Neighbors, 1, nameof(Neighbors));
        ArgumentOutOfRangeException.ThrowIfNegative(FrequentPhrases, nameof(FrequentPhrases));
        ArgumentOutOfRangeException.ThrowIfNegative(VocabularyWords, nameof(VocabularyWords));
        ArgumentOutOfRangeException.ThrowIfLessThan(BeamWidth, 1, nameof(BeamWidth));
        ArgumentOutOfRangeException.ThrowIfNegative(Steps, nameof(Steps));
        ArgumentOutOfRangeException.ThrowIfLessThan(CandidatesPerStep, 1, nameof(CandidatesPerStep));
        ArgumentOutOfRangeException.ThrowIfNegative(MinimumGain, nameof(MinimumGain));
    }
}

/// <summary>A composed prompt: the text, its cosine to the target embedding, the nearest bank prompts and the work it took.</summary>
public sealed record ComposedPrompt(string Prompt, float Score, IReadOnlyList<PromptMatch> NearestPrompts, int TextsEmbedded, TimeSpan Time);

/// <summary>
/// Turns target prompt embeddings into prompts: finds the text t that maximises cos(MiniLM(t), ŷ) by edits of
/// comma-separated prompts, starting from the nearest bank prompts. Edits append a phrase of a neighbour, a frequent bank
/// phrase or a likely vocabulary word, drop a phrase, or replace one. Every candidate that is kept was embedded with MiniLM
/// and scored; deterministic for the same inputs.
/// </summary>
public sealed class PromptComposer : IDisposable
{
    private readonly PromptBank? _bank;
    private readonly PromptComposerOptions _options;
    private readonly Lazy<SentenceEncoder> _encoder;
    private readonly bool _ownsEncoder;
    private readonly Func<IReadOnlyList<string>, float[][]> _embed;
    private readonly Func<string, int> _tokens;
    private readonly Dictionary<string, float[]> _textCache = new(StringComparer.Ordinal);

    /// <summary>Texts whose embeddings are kept (phrases and candidate prompts); the cache starts over when full.</summary>
    internal int TextCacheCapacity { get; init; } = 20_000;

    /// <summary>
    /// Forgets the texts embedded so far, so what follows is composed exactly as a new composer would: a text's embedding
    /// depends in its last bits on the texts batched with it (padding), and a cached one would carry that history.
    /// </summary>
    internal void ForgetTexts() => _textCache.Clear();

    internal PromptComposer(PromptBank? bank, PromptComposerOptions options, SentenceEncoder encoder, bool ownsEncoder)
        : this(bank, options, new Lazy<SentenceEncoder>(encoder), ownsEncoder)
    {
    }

    /// <summary>The encoder is made on first use: composing with <see cref="CompositionMethod.None"/> never loads it.</summary>
    private PromptComposer(PromptBank? bank, PromptComposerOptions options, Lazy<SentenceEncoder> encoder, bool ownsEncoder)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _bank = bank;
        _options = options;
        _encoder = encoder;
        _ownsEncoder = ownsEncoder;
        _embed = texts => _encoder.Value.Encode(texts);
        _tokens = text => _encoder.Value.TokenIds(text).Length;
    }

    /// <summary>
    /// A composer with its own sentence encoder (dispose it). With a <paramref name="bank"/>, it finds the nearest prompts and
    /// uses the bank's frequent phrases; without one, the nearest prompts must be given to Compose (e.g. those a
    /// model zip with a bank returns).
    /// </summary>
    public static PromptComposer Create(PromptBank? bank, PromptComposerOptions? options = null) =>
        new(bank, options ?? new PromptComposerOptions(), new Lazy<SentenceEncoder>(() => SentenceEncoder.Load()), ownsEncoder: true);

    /// <summary>
    /// Composes one prompt per target embedding. <paramref name="words"/>, when given, holds each target's vocabulary words
    /// with their probabilities (the vocabulary head's output). The nearest prompts are found for all targets in one search.
    /// </summary>
    public IReadOnlyList<ComposedPrompt> Compose(IReadOnlyList<float[]> targets, CompositionMethod method,
        IReadOnlyList<IReadOnlyList<(string Word, float Probability)>>? words = null, CancellationToken cancellationToken = default) =>
        Compose(targets, method, words, null, cancellationToken);

    /// <summary>
    /// As <see cref="Compose(IReadOnlyList{float[]}, CompositionMethod, IReadOnlyList{IReadOnlyList{ValueTuple{string, float}}}?, CancellationToken)"/>,
    /// with each target's nearest prompts given (best first) instead of searched in the bank.
    /// </summary>
    public IReadOnlyList<ComposedPrompt> Compose(IReadOnlyList<float[]> targets, CompositionMethod method,
        IReadOnlyList<IReadOnlyList<(string Word, float Probability)>>? words, IReadOnlyList<IReadOnlyList<PromptMatch>>? nearestPrompts,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(targets);
        if (words != null && words.Count != targets.Count)
            throw new ArgumentException($"{words.Count} word lists for {targets.Count} targets.", nameof(words));
        if (nearestPrompts != null && nearestPrompts.Count != targets.Count)
            throw new ArgumentException($"{nearestPrompts.Count} nearest-prompt lists for {targets.Count} targets.", nameof(nearestPrompts));
        if (targets.Count == 0) return [];
        var nearest = nearestPrompts ?? (_bank ?? throw new InvalidOperationException("A composer without a bank needs the nearest prompts."))
            .Search(targets, _options.Neighbors);
        if (nearest.Any(n => n.Count == 0)) throw new ArgumentException("Every target needs at least one nearest prompt.", nameof(nearestPrompts));
        var result = new List<ComposedPrompt>(targets.Count);
        for (int i = 0; i < targets.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var timer = Stopwatch.StartNew();
            var target = new float[targets[i].Length];
            PromptBank.Normalise(targets[i], target);
            var (prompt, score, embedded) = method switch
            {
                CompositionMethod.None => (nearest[i][0].Prompt, nearest[i][0].Score, 0),
                CompositionMethod.Greedy => Greedy(target, nearest[i]),
                CompositionMethod.Beam => Beam(target, nearest[i], words?[i]),
                _ => throw new ArgumentOutOfRangeException(nameof(method)),
            };
            result.Add(new ComposedPrompt(prompt, score, nearest[i], embedded, timer.Elapsed));
        }
        return result;
    }

    /// <summary>The baseline: top-1 prompt; 3 steps, each trying every neighbour phrase and frequent phrase appended, or one phrase dropped.</summary>
    private (string, float, int) Greedy(float[] target, IReadOnlyList<PromptMatch> nearest)
    {
        var pool = PhrasePool(nearest, null, Math.Min(10, nearest.Count), _options.FrequentPhrases);
        var current = Split(nearest[0].Prompt);
        float best = nearest[0].Score;
        int embedded = 0;
        for (int step = 0; step < 3; step++)
        {
            var present = current.Select(Key).ToHashSet(StringComparer.Ordinal);
            var candidates = new List<List<string>>();
            foreach (var phrase in pool)
                if (!present.Contains(Key(phrase))) candidates.Add([.. current, phrase]);
            if (current.Count > 1)
                for (int j = 0; j < current.Count; j++) candidates.Add(current.Where((_, x) => x != j).ToList());
            if (candidates.Count == 0) break;
            var vectors = EmbedCached(candidates.Select(Join).ToList(), ref embedded);
            int arg = -1;
            float top = best;
            for (int c = 0; c < candidates.Count; c++)
            {
                float s = Dot(vectors[c], target);
                if (s > top) { top = s; arg = c; }
            }
            if (arg < 0 || top - best <= _options.MinimumGain) break;
            current = candidates[arg];
            best = top;
        }
        return (Join(current), best, embedded);
    }

    private sealed record State(List<string> Phrases, string Text, float[] Vector, int Tokens, float Score);

    private (string, float, int) Beam(float[] target, IReadOnlyList<PromptMatch> nearest, IReadOnlyList<(string Word, float Probability)>? words)
    {
        int d = target.Length;
        var pool = PhrasePool(nearest, words, nearest.Count, _options.FrequentPhrases);
        int embedded = 0;
        var poolVectors = EmbedCached(pool, ref embedded);
        var phraseVectors = pool.Select((p, i) => (p, poolVectors[i])).ToDictionary(x => x.p, x => x.Item2, StringComparer.Ordinal);
        var phraseTokens = pool.ToDictionary(p => p, p => Math.Max(1, _tokens(p) - 2), StringComparer.Ordinal);

        // Start: the top bank prompts, whose vectors are the bank's (MiniLM of the same text).
        var scored = new Dictionary<string, float>(StringComparer.Ordinal);
        var beam = new List<State>();
        for (int i = 0; i < Math.Min(_options.BeamWidth, nearest.Count); i++)
        {
            var phrases = Split(nearest[i].Prompt);
            string text = Join(phrases);
            if (!scored.TryAdd(text, nearest[i].Score)) continue;
            bool fromBank = _bank != null && text == nearest[i].Prompt && nearest[i].Index >= 0;
            var vector = fromBank ? _bank!.Vector(nearest[i].Index) : EmbedCached([text], ref embedded)[0];
            beam.Add(new State(phrases, text, vector, _tokens(text), Dot(vector, target)));
        }
        beam = [.. beam.OrderByDescending(s => s.Score)];
        var best = beam[0];

        for (int step = 0; step < _options.Steps; step++)
        {
            // Every edit of every beam prompt, ranked by the additive estimate: MiniLM mean-pools word pieces, so the
            // text t ± phrase p is close to n_t·e(t) ± n_p·e(p) (n = word pieces); only the best ones are embedded.
            var estimates = new Dictionary<string, (float Estimate, List<string> Phrases)>(StringComparer.Ordinal);
            var sum = new float[d];
            foreach (var state in beam)
            {
                var present = state.Phrases.Select(Key).ToHashSet(StringComparer.Ordinal);
                var remove = new List<(int Index, string? Phrase)> { (-1, null) };
                if (state.Phrases.Count > 1)
                    for (int j = 0; j < state.Phrases.Count; j++)
                        if (phraseVectors.ContainsKey(state.Phrases[j])) remove.Add((j, state.Phrases[j]));
                foreach (var (j, removed) in remove)
                {
                    var phrases = j < 0 ? state.Phrases : state.Phrases.Where((_, x) => x != j).ToList();
                    var baseSum = new float[d];
                    for (int x = 0; x < d; x++) baseSum[x] = state.Tokens * state.Vector[x];
                    if (removed != null)
                    {
                        var v = phraseVectors[removed];
                        int n = phraseTokens[removed] + 1;
                        for (int x = 0; x < d; x++) baseSum[x] -= n * v[x];
                        Consider(phrases, baseSum);
                    }
                    foreach (var phrase in pool)
                    {
                        if (present.Contains(Key(phrase))) continue;
                        var v = phraseVectors[phrase];
                        int n = phraseTokens[phrase] + 1;
                        for (int x = 0; x < d; x++) sum[x] = baseSum[x] + n * v[x];
                        var edited = j < 0 ? [.. phrases, phrase] : phrases.Take(j).Append(phrase).Concat(phrases.Skip(j)).ToList();
                        Consider(edited, sum);
                    }
                }
            }

            var chosen = estimates.OrderByDescending(e => e.Value.Estimate).ThenBy(e => e.Key, StringComparer.Ordinal)
                .Take(_options.CandidatesPerStep).ToList();
            if (chosen.Count == 0) break;
            var vectors = EmbedCached(chosen.Select(c => c.Key).ToList(), ref embedded);
            var next = new List<State>(beam);
            for (int c = 0; c < chosen.Count; c++)
            {
                float s = Dot(vectors[c], target);
                scored[chosen[c].Key] = s;
                next.Add(new State(chosen[c].Value.Phrases, chosen[c].Key, vectors[c], _tokens(chosen[c].Key), s));
            }
            beam = [.. next.OrderByDescending(s => s.Score).ThenBy(s => s.Text, StringComparer.Ordinal).Take(_options.BeamWidth)];
            bool improved = beam[0].Score - best.Score > _options.MinimumGain;
            if (beam[0].Score > best.Score) best = beam[0];
            if (!improved) break;

            void Consider(List<string> phrases, float[] estimateSum)
            {
                string text = Join(phrases);
                if (phrases.Count == 0 || scored.ContainsKey(text) || estimates.ContainsKey(text)) return;
                estimates[text] = (Cosine(estimateSum, target), phrases);
            }
        }
        return (best.Text, best.Score, embedded);
    }

    /// <summary>Neighbour phrases (nearest first), then frequent bank phrases, then likely vocabulary words; distinct, case-insensitive.</summary>
    private List<string> PhrasePool(IReadOnlyList<PromptMatch> nearest, IReadOnlyList<(string Word, float Probability)>? words, int neighbors, int frequent)
    {
        var pool = new List<string>();
        var keys = new HashSet<string>(StringComparer.Ordinal);
        void Add(string phrase)
        {
            if (phrase.Length > 0 && keys.Add(Key(phrase))) pool.Add(phrase);
        }
        foreach (var match in nearest.Take(neighbors))
            foreach (var phrase in Split(match.Prompt)) Add(phrase);
        foreach (var phrase in (_bank?.Info.FrequentPhrases ?? []).Take(frequent)) Add(phrase);
        if (words != null)
            foreach (var (word, _) in words.OrderByDescending(w => w.Probability).Take(_options.VocabularyWords)) Add(word);
        return pool;
    }

    /// <summary>
    /// The embeddings of <paramref name="texts"/>: those seen before (by this composer) from its cache, the others in ONE
    /// encoder call (length-sorted batches); <paramref name="embedded"/> counts the texts that were encoded.
    /// </summary>
    private float[][] EmbedCached(IReadOnlyList<string> texts, ref int embedded)
    {
        // Cached vectors are taken BEFORE the cache may start over below, so a full cache never loses a text of this call.
        var result = new float[texts.Count][];
        var missing = new List<string>();
        var missingSet = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < texts.Count; i++)
            if (_textCache.TryGetValue(texts[i], out var cached)) result[i] = cached;
            else if (missingSet.Add(texts[i])) missing.Add(texts[i]);
        if (missing.Count == 0) return result;
        var vectors = _embed(missing);
        embedded += missing.Count;
        if (_textCache.Count + missing.Count > TextCacheCapacity) _textCache.Clear();
        var fresh = new Dictionary<string, float[]>(StringComparer.Ordinal);
        for (int i = 0; i < missing.Count; i++)
        {
            fresh[missing[i]] = vectors[i];
            _textCache[missing[i]] = vectors[i];
        }
        for (int i = 0; i < texts.Count; i++) result[i] ??= fresh[texts[i]];
        return result;
    }

    internal static List<string> Split(string prompt)
    {
        var phrases = PromptBankBuilder.Phrases(prompt).ToList();
        return phrases.Count > 0 ? phrases : [prompt.Trim()];
    }

    internal static string Join(IEnumerable<string> phrases) => string.Join(", ", phrases);

    private static string Key(string phrase) => phrase.ToLowerInvariant();

    private static float Dot(float[] a, float[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += (double)a[i] * b[i];
        return (float)s;
    }

    private static float Cosine(float[] a, float[] unitB)
    {
        double dot = 0, norm = 0;
        for (int i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * unitB[i];
            norm += (double)a[i] * a[i];
        }
        return norm > 0 ? (float)(dot / Math.Sqrt(norm)) : 0f;
    }

    /// <summary>Releases the sentence encoder when this composer created it.</summary>
    public void Dispose()
    {
        if (_ownsEncoder && _encoder.IsValueCreated) _encoder.Value.Dispose();
    }
}
