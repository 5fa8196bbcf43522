using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Heads;

namespace ReverseSD.MLNet.Pipeline;

public static partial class ReverseSdModel
{
    /// <summary>
    /// Scores image files; <paramref name="topWords"/> most probable vocabulary words per image. Images that do not decode
    /// are left out (ML.NET's image loader would throw) and listed in <paramref name="skipped"/>.
    /// </summary>
    public static IReadOnlyList<PromptPrediction> Predict(MLContext mlContext, ITransformer model, IReadOnlyList<string> imagePaths,
        int topWords, out IReadOnlyList<UnreadableImage> skipped, WordRanking ranking = WordRanking.Lift)
    {
        ArgumentNullException.ThrowIfNull(imagePaths);
        var bad = new List<UnreadableImage>();
        var good = new List<PromptPrediction>();
        foreach (var result in PredictStream(mlContext, model, imagePaths, topWords, ranking: ranking))
        {
            if (result.Prediction != null) good.Add(result.Prediction);
            else bad.Add(new UnreadableImage(result.ImagePath, result.Problem!));
        }
        skipped = bad;
        return good;
    }

    /// <summary>
    /// Scores image files chunk by chunk and yields each image's result in input order as its chunk finishes (memory stays
    /// flat for any number of images): its prediction, or why it was skipped (an unreadable image is never fatal). The
    /// backbone runs on the fast path (parallel decoding, batched ONNX Runtime) when the model's backbone can be read
    /// back, else through the model's ML.NET chain; both give the same numbers.
    /// </summary>
    public static IEnumerable<ImagePredictionResult> PredictStream(MLContext mlContext, ITransformer model, IReadOnlyList<string> imagePaths,
        int topWords, int chunkSize = DefaultPredictChunkSize, IProgress<ProgressReport>? progress = null, CancellationToken cancellationToken = default,
        WordRanking ranking = WordRanking.Lift)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(imagePaths);
        ArgumentOutOfRangeException.ThrowIfNegative(topWords);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, 1);
        return Stream();

        IEnumerable<ImagePredictionResult> Stream()
        {
            var paths = imagePaths.Select(Path.GetFullPath).ToList();
            var scorer = ModelImageScorer.For(mlContext, model);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            int done = 0, skippedCount = 0;
            foreach (var (path, prediction, problem) in scorer.Score(paths, chunkSize, view => ReadPredictions(view, topWords, ranking), cancellationToken))
            {
                done++;
                if (problem != null) skippedCount++;
                yield return new ImagePredictionResult(path, prediction == null ? null : prediction with { ImagePath = path }, problem);
                if (progress != null && (done % chunkSize == 0 || done == paths.Count))
                {
                    double rate = done / Math.Max(clock.Elapsed.TotalSeconds, 1e-9);
                    var eta = TimeSpan.FromSeconds((paths.Count - done) / Math.Max(rate, 1e-9));
                    progress.Report(new ProgressReport("Predicting", done, paths.Count, string.Create(CultureInfo.InvariantCulture,
                        $"{rate:F1} images/s, ETA {eta:hh\\:mm\\:ss}{(skippedCount > 0 ? $", {skippedCount} unreadable" : "")}")));
                }
            }
        }
    }

    /// <summary>Images per chunk of <c>PredictStream</c>: results are produced (and can be written) one chunk at a time.</summary>
    public const int DefaultPredictChunkSize = 64;

    /// <summary>
    /// The predictions of a scored view, in row order (image paths are filled in by the caller), read in one pass: every
    /// cursor over the view runs the stages after the backbone again, so one cursor reads all the columns. The vocabulary
    /// words and frequencies, the same in every row, are read from the first.
    /// </summary>
    private static IReadOnlyList<PromptPrediction> ReadPredictions(IDataView scored, int topWords, WordRanking ranking)
    {
        var schema = scored.Schema;
        var embeddingColumn = schema.GetColumnOrNull(ColumnNames.PredictedEmbedding)
            ?? throw new ArgumentOutOfRangeException(nameof(scored), $"The data has no column '{ColumnNames.PredictedEmbedding}'.");
        var probabilitiesColumn = schema.GetColumnOrNull(ColumnNames.VocabularyProbabilities);
        var wordsColumn = probabilitiesColumn == null ? null : schema.GetColumnOrNull(ReverseSdModelFormat.VocabularyWordsColumnName);
        var frequenciesColumn = wordsColumn == null ? null : schema.GetColumnOrNull(ReverseSdModelFormat.VocabularyFrequenciesColumnName);
        var nearestColumn = schema.GetColumnOrNull(ColumnNames.NearestPrompts);
        var nearestScoresColumn = nearestColumn == null ? null : schema.GetColumnOrNull(ColumnNames.NearestPromptScores);
        if (nearestScoresColumn == null) nearestColumn = null;   // both or neither: present when the zip holds a prompt bank
        var active = new[] { embeddingColumn, probabilitiesColumn, wordsColumn, frequenciesColumn, nearestColumn, nearestScoresColumn }
            .OfType<DataViewSchema.Column>().ToList();

        using var cursor = scored.GetRowCursor(active);
        var embeddingGetter = cursor.GetGetter<VBuffer<float>>(embeddingColumn);
        var probabilitiesGetter = probabilitiesColumn is { } p ? cursor.GetGetter<VBuffer<float>>(p) : null;
        var wordsGetter = wordsColumn is { } w ? cursor.GetGetter<VBuffer<ReadOnlyMemory<char>>>(w) : null;
        var frequenciesGetter = frequenciesColumn is { } f ? cursor.GetGetter<VBuffer<float>>(f) : null;
        var nearestGetter = nearestColumn is { } n ? cursor.GetGetter<VBuffer<ReadOnlyMemory<char>>>(n) : null;
        var nearestScoresGetter = nearestScoresColumn is { } ns ? cursor.GetGetter<VBuffer<float>>(ns) : null;
        VBuffer<float> floats = default;
        VBuffer<ReadOnlyMemory<char>> texts = default;
        string[]? words = null;
        float[]? frequencies = null;
        var result = new List<PromptPrediction>();
        while (cursor.MoveNext())
        {
            embeddingGetter(ref floats);
            var embedding = floats.DenseValues().ToArray();
            IReadOnlyList<PredictedWord> topWordsOfRow = [];
            if (probabilitiesGetter != null)
            {
                if (words == null)
                {
                    if (wordsGetter != null)
                    {
                        wordsGetter(ref texts);
                        words = texts.DenseValues().Select(v => v.ToString()).ToArray();
                    }
                    else words = [];
                    if (frequenciesGetter != null)
                    {
                        frequenciesGetter(ref floats);
                        frequencies = floats.DenseValues().ToArray();
                    }
                }
                probabilitiesGetter(ref floats);
                topWordsOfRow = RankWords(words, floats.DenseValues().ToArray(), frequencies, topWords, ranking);
            }
            IReadOnlyList<Retrieval.PromptMatch> nearest = [];
            if (nearestGetter != null)
            {
                nearestGetter(ref texts);
                nearestScoresGetter!(ref floats);
                var prompts = texts.DenseValues().Select(v => v.ToString()).ToArray();
                var scores = floats.DenseValues().ToArray();
                nearest = prompts.Select((prompt, j) => new Retrieval.PromptMatch(-1, prompt, scores[j])).ToList();
            }
            result.Add(new PromptPrediction("", embedding, topWordsOfRow)
            {
                NearestPrompts = nearest,
                Prompt = nearest.FirstOrDefault()?.Prompt,
                PromptScore = nearest.FirstOrDefault()?.Score,
            });
        }
        return result;
    }

    /// <summary>
    /// The <paramref name="count"/> best words by <paramref name="ranking"/>. Lift = probability ÷ training frequency, the
    /// frequency floored at 1/1000 so a word seen once in a tiny training set cannot dominate; ties go to the higher probability.
    /// Without frequencies (older models) the ranking is by probability.
    /// </summary>
    internal static List<PredictedWord> RankWords(string[] words, float[] probabilities, float[]? frequencies, int count, WordRanking ranking)
    {
        const float FrequencyFloor = 1e-3f;
        bool hasFrequencies = frequencies != null && frequencies.Length == words.Length;
        var all = Enumerable.Range(0, Math.Min(words.Length, probabilities.Length)).Select(j => new PredictedWord(words[j], probabilities[j],
            hasFrequencies ? frequencies![j] : null,
            hasFrequencies ? probabilities[j] / Math.Max(frequencies![j], FrequencyFloor) : null));
        var ranked = ranking == WordRanking.Lift && hasFrequencies
            ? all.OrderByDescending(w => w.Lift!.Value).ThenByDescending(w => w.Probability)
            : all.OrderByDescending(w => w.Probability);
        return ranked.ThenBy(w => w.Word, StringComparer.Ordinal).Take(count).ToList();
    }
}
