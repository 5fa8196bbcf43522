// Scores images with a model zip saved by ReverseSD.MLNet ('reversesd train'), using plain ML.NET only.
// Usage: ScoreInYourApp <model.zip> <image-or-folder>... [--out predictions.json]
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;

string? outPath = null;
var positional = new List<string>();
for (int i = 0; i < args.Length; i++)
{
    if (args[i] == "--out" && i + 1 < args.Length) outPath = args[++i];
    else positional.Add(args[i]);
}
if (positional.Count < 2)
{
    Console.Error.WriteLine("usage: ScoreInYourApp <model.zip> <image-or-folder>... [--out predictions.json]");
    return 2;
}

var images = positional.Skip(1)
    .SelectMany<string, string>(p => Directory.Exists(p)
        ? Directory.EnumerateFiles(p).Where(f => f.EndsWith(".png", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase)).Order()
        : [p])
    .Select(Path.GetFullPath)
    .ToList();

var ml = new MLContext();
ITransformer model = ml.Model.Load(positional[0], out _);
var input = ml.Data.LoadFromEnumerable(images.Select(p => new ImageInput { ImagePath = p }));
var scored = model.Transform(input);

bool hasWords = scored.Schema.GetColumnOrNull("VocabularyProbabilities") != null;
var results = new List<Prediction>();
using (var cursor = scored.GetRowCursor(scored.Schema))
{
    var embeddingGetter = cursor.GetGetter<VBuffer<float>>(scored.Schema["PredictedEmbedding"]);
    var probabilityGetter = hasWords ? cursor.GetGetter<VBuffer<float>>(scored.Schema["VocabularyProbabilities"]) : null;
    var wordsGetter = hasWords ? cursor.GetGetter<VBuffer<ReadOnlyMemory<char>>>(scored.Schema["VocabularyWords"]) : null;
    VBuffer<float> embedding = default, probabilities = default;
    VBuffer<ReadOnlyMemory<char>> words = default;
    int row = 0;
    while (cursor.MoveNext())
    {
        embeddingGetter(ref embedding);
        var topWords = new List<WordProbability>();
        if (hasWords)
        {
            probabilityGetter!(ref probabilities);
            wordsGetter!(ref words);
            var p = probabilities.DenseValues().ToArray();
            var w = words.DenseValues().Select(x => x.ToString()).ToArray();
            topWords = Enumerable.Range(0, p.Length).OrderByDescending(i => p[i]).Take(5).Select(i => new WordProbability(w[i], p[i])).ToList();
        }
        var prediction = new Prediction(images[row++], embedding.DenseValues().ToArray(), topWords);
        results.Add(prediction);
        Console.WriteLine($"{Path.GetFileName(prediction.Image)}: embedding [{string.Join(", ", prediction.Embedding.Take(4).Select(v => v.ToString("F4")))}, ...] ({prediction.Embedding.Length} values)"
            + (topWords.Count > 0 ? "; words: " + string.Join(", ", topWords.Select(t => $"{t.Word} {t.Probability:F2}")) : ""));
    }
}

if (outPath != null)
    File.WriteAllText(outPath, JsonSerializer.Serialize(results, new JsonSerializerOptions { WriteIndented = true }));
return 0;

/// <summary>The one input column a ReverseSD model reads.</summary>
internal sealed class ImageInput
{
    public string ImagePath { get; set; } = "";
}

internal sealed record WordProbability(string Word, float Probability);

internal sealed record Prediction(string Image, float[] Embedding, List<WordProbability> TopWords);
