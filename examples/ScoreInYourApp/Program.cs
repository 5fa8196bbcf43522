// Scores images with a model zip saved by ReverseSD.MLNet ('reversesd train' or 'demo'), using plain ML.NET only,
// in the Model Builder style: a ModelInput and a ModelOutput class and one PredictionEngine.
// Prints the same fields as 'reversesd predict' (image, embedding, top_words with word, probability, training_frequency, lift)
// and, when the zip holds a prompt bank ('reversesd train --bank', default: the training prompts), the nearest bank prompt as
// the prompt (predict's --compose none) with nearest_prompts.
// Usage: ScoreInYourApp <model.zip> <image-or-folder>... [--out predictions.json] [--top-words 10]
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.ML;
using Microsoft.ML.Data;

string? outPath = null;
int topWords = 10;
var positional = new List<string>();
for (int i = 0; i < args.Length; i++)
{
    if (args[i] == "--out" && i + 1 < args.Length) outPath = args[++i];
    else if (args[i] == "--top-words" && i + 1 < args.Length && int.TryParse(args[++i], out int n) && n >= 0) topWords = n;
    else positional.Add(args[i]);
}
if (positional.Count < 2)
{
    Console.Error.WriteLine("usage: ScoreInYourApp <model.zip> <image-or-folder>... [--out predictions.json] [--top-words 10]");
    return 2;
}

var images = positional.Skip(1)
    .SelectMany<string, string>(p => Directory.Exists(p)
        ? Directory.EnumerateFiles(p).Where(f => f.EndsWith(".png", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase)).Order()
        : [p])
    .Select(Path.GetFullPath)
    .ToList();

var ml = new MLContext();
// ML.NET copies each ONNX graph of the zip to a temporary file with a random 8.3 name, and ONNX Runtime reads a file named
// *.ort as its own format: once in 32,768 graphs that load fails with "ORT model verification failed"
// (dotnet/machinelearning#7339). Loading again draws new names.
ITransformer model;
DataViewSchema inputSchema;
for (int attempt = 1; ; attempt++)
{
    try
    {
        model = ml.Model.Load(positional[0], out inputSchema);
        break;
    }
    catch (Exception e) when (attempt < 3 && e.ToString().Contains("ORT model verification failed", StringComparison.Ordinal))
    {
    }
}
using var engine = ModelOutput.CreatePredictionEngine(ml, model, inputSchema);

var results = new List<Prediction>();
foreach (string image in images)
{
    ModelOutput output = engine.Predict(new ModelInput { ImagePath = image });
    var nearest = output.NearestPrompts.Select((p, j) => new NearestPrompt(p, output.NearestPromptScores[j])).ToList();
    var prediction = new Prediction(image, output.PredictedEmbedding, output.TopWords(topWords))
    {
        Prompt = nearest.FirstOrDefault()?.Prompt,
        PromptScore = nearest.FirstOrDefault()?.Score,
        NearestPrompts = nearest.Count == 0 ? null : nearest,
    };
    results.Add(prediction);
    string words = string.Join(", ", prediction.TopWords.Select(w => $"{w.Word} {w.Probability:F2}" + (w.Lift is float lift ? $" (×{lift:F1})" : "")));
    Console.WriteLine($"{Path.GetFileName(image)}: {prediction.Embedding.Length}-d embedding; words: {words}");
    if (prediction.Prompt != null) Console.WriteLine($"  prompt ({prediction.PromptScore:F3}): {prediction.Prompt}");
}

if (outPath != null)
{
    var options = new JsonSerializerOptions { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    File.WriteAllText(outPath, JsonSerializer.Serialize(results, options));
}
return 0;

/// <summary>The one input column a ReverseSD model reads: the path of an image file.</summary>
public sealed class ModelInput
{
    [ColumnName("ImagePath")]
    public string ImagePath { get; set; } = "";
}

/// <summary>The columns a ReverseSD model writes (a model trained with the vanilla head has no vocabulary columns).</summary>
public sealed class ModelOutput
{
    /// <summary>The predicted prompt embedding (384 values, unit norm), comparable to all-MiniLM-L6-v2 sentence embeddings.</summary>
    [ColumnName("PredictedEmbedding")]
    public float[] PredictedEmbedding { get; set; } = [];

    /// <summary>The vocabulary head's probability of each word.</summary>
    [ColumnName("VocabularyProbabilities")]
    public float[] VocabularyProbabilities { get; set; } = [];

    /// <summary>The vocabulary words, in the order of the probabilities.</summary>
    [ColumnName("VocabularyWords")]
    public string[] VocabularyWords { get; set; } = [];

    /// <summary>Each word's training frequency (share of training prompts containing it); empty for models saved before it was stored.</summary>
    [ColumnName("VocabularyFrequencies")]
    public float[] VocabularyFrequencies { get; set; } = [];

    /// <summary>The nearest prompts of the prompt bank in the zip, nearest first (empty when the zip has no bank).</summary>
    [ColumnName("NearestPrompts")]
    public string[] NearestPrompts { get; set; } = [];

    /// <summary>Their cosines to the predicted embedding.</summary>
    [ColumnName("NearestPromptScores")]
    public float[] NearestPromptScores { get; set; } = [];

    /// <summary>A prediction engine for one image at a time, leaving out the columns this model does not write.</summary>
    public static PredictionEngine<ModelInput, ModelOutput> CreatePredictionEngine(MLContext ml, ITransformer model, DataViewSchema inputSchema)
    {
        var outputSchema = model.GetOutputSchema(inputSchema);
        var definition = SchemaDefinition.Create(typeof(ModelOutput));
        for (int i = definition.Count - 1; i >= 0; i--)
            if (outputSchema.GetColumnOrNull(definition[i].ColumnName) == null) definition.RemoveAt(i);
        return ml.Model.CreatePredictionEngine<ModelInput, ModelOutput>(model, outputSchemaDefinition: definition);
    }

    /// <summary>
    /// The <paramref name="count"/> words ranked as 'reversesd predict' ranks them: by lift, probability ÷ training frequency
    /// (the frequency floored at 1/1000), ties to the higher probability; by probability when the model has no frequencies.
    /// </summary>
    public List<PredictedWord> TopWords(int count)
    {
        bool hasFrequencies = VocabularyFrequencies.Length == VocabularyWords.Length && VocabularyWords.Length > 0;
        var words = Enumerable.Range(0, Math.Min(VocabularyWords.Length, VocabularyProbabilities.Length)).Select(j => new PredictedWord(
            VocabularyWords[j], VocabularyProbabilities[j],
            hasFrequencies ? VocabularyFrequencies[j] : null,
            hasFrequencies ? VocabularyProbabilities[j] / Math.Max(VocabularyFrequencies[j], 1e-3f) : null));
        var ranked = hasFrequencies
            ? words.OrderByDescending(w => w.Lift!.Value).ThenByDescending(w => w.Probability)
            : words.OrderByDescending(w => w.Probability);
        return ranked.ThenBy(w => w.Word, StringComparer.Ordinal).Take(count).ToList();
    }
}

/// <summary>A word with the CLI's field names.</summary>
public sealed record PredictedWord(
    [property: JsonPropertyName("word")] string Word,
    [property: JsonPropertyName("probability")] float Probability,
    [property: JsonPropertyName("training_frequency")] float? TrainingFrequency,
    [property: JsonPropertyName("lift")] float? Lift);

/// <summary>A bank prompt with its cosine, with the CLI's field names.</summary>
public sealed record NearestPrompt(
    [property: JsonPropertyName("prompt")] string Prompt,
    [property: JsonPropertyName("score")] float Score);

/// <summary>One image's result with the CLI's field names (the prompt fields only when the zip holds a prompt bank).</summary>
public sealed record Prediction(
    [property: JsonPropertyName("image")] string Image,
    [property: JsonPropertyName("embedding")] float[] Embedding,
    [property: JsonPropertyName("top_words")] List<PredictedWord> TopWords)
{
    /// <summary>The nearest bank prompt.</summary>
    [JsonPropertyName("prompt"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Prompt { get; init; }

    /// <summary>Its cosine to the predicted embedding.</summary>
    [JsonPropertyName("prompt_score"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public float? PromptScore { get; init; }

    /// <summary>The nearest bank prompts, nearest first.</summary>
    [JsonPropertyName("nearest_prompts"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public List<NearestPrompt>? NearestPrompts { get; init; }
}
