using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Evaluation;
using ReverseSD.MLNet.Heads;
using ReverseSD.MLNet.Retrieval;
using SkiaSharp;

namespace ReverseSD.MLNet.Tests.Cli;

[Trait("Category", "Slow")]
public sealed class ScoreInYourAppTests
{
    private sealed class TrainingRow
    {
        public string ImagePath { get; set; } = "";
        [VectorType(384)] public float[] PromptEmbedding { get; set; } = [];
        [VectorType(3)] public float[] VocabularyLabels { get; set; } = [];
    }

    private sealed class BankRow
    {
        public string Prompt { get; set; } = "";
        [VectorType(384)] public float[] PromptEmbedding { get; set; } = [];
    }

    private sealed class ImageOnly
    {
        public string ImagePath { get; set; } = "";
    }

    [Fact]
    public void ExampleAppScoresTheSavedZipInAFreshProcessWithTheSameOutputs()
    {
        using var dir = new TempDirectory();
        var ml = new MLContext(1);
        var rows = WriteColouredImages(dir.Path, 24);
        // A whole chain from image path to prediction: ML.NET's image transforms give 8×8 pixel features, the heads read them.
        var imagePipeline = ml.Transforms.LoadImages("Image", null, "ImagePath")
            .Append(ml.Transforms.ResizeImages("Image", 8, 8))
            .Append(ml.Transforms.ExtractPixels("ImageFeatures", "Image", scaleImage: 1 / 255f));
        var train = ml.Data.LoadFromEnumerable(rows);
        var imageModel = imagePipeline.Fit(train);
        using var heads = ml.Regression.Trainers.PromptEmbeddingHeads(new PromptEmbeddingHeadsTrainer.Options
        {
            LabelColumnName = "PromptEmbedding", NumberOfEpochs = 3, BatchSize = 8, Device = HeadsDevice.Cpu, VocabularyWords = ["red", "green", "blue"],
        }).Fit(imageModel.Transform(train));
        // A prompt bank of six prompts with given embeddings (the heads' targets of six training images) as the last stage.
        var bank = ml.Data.LoadFromEnumerable(rows.Take(6).Select((r, i) => new BankRow { Prompt = $"prompt {i}", PromptEmbedding = r.PromptEmbedding }));
        var scoredWithHeads = imageModel.Append(heads);
        var model = scoredWithHeads.Append(ml.Transforms.NearestPrompts(bank, numberOfPrompts: 3).Fit(scoredWithHeads.Transform(train)));
        var images = ml.Data.LoadFromEnumerable(rows.Take(5).Select(r => new ImageOnly { ImagePath = r.ImagePath }));
        string zip = dir.File("model.zip");
        ml.Model.Save(model, images.Schema, zip);

        var inProcess = PromptEmbeddingEvaluator.ReadVectors(model.Transform(images), "PredictedEmbedding");
        var loaded = ml.Model.Load(zip, out _);
        var reloaded = PromptEmbeddingEvaluator.ReadVectors(loaded.Transform(images), "PredictedEmbedding");
        (loaded as IDisposable)?.Dispose();

        string exampleDll = ExampleDll();
        Assert.True(File.Exists(exampleDll), $"{exampleDll} is missing: the test project builds examples/ScoreInYourApp through a project reference.");
        var (stdout, doc) = RunExample(zip, rows.Take(5).Select(r => r.ImagePath), dir.File("out.json"));
        Assert.Contains("words: ", stdout);
        Assert.Contains("  prompt (", stdout);

        // The library's predict (what 'reversesd predict' prints) on the same zip: same words in the same order.
        var library = Pipeline.ReverseSdModel.Predict(ml, ml.Model.Load(zip, out _), rows.Take(5).Select(r => r.ImagePath).ToList(), 10, out _);
        var predictions = doc.EnumerateArray().ToList();
        Assert.Equal(5, predictions.Count);
        double maxDiff = 0, maxReloadDiff = 0;
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(["image", "embedding", "top_words", "prompt", "prompt_score", "nearest_prompts"], predictions[i].EnumerateObject().Select(p => p.Name));
            // The zip's prompt bank: the same nearest prompts and scores as the library reads, the first one as the prompt.
            var nearest = predictions[i].GetProperty("nearest_prompts").EnumerateArray().ToList();
            Assert.Equal(library[i].NearestPrompts.Select(p => p.Prompt), nearest.Select(p => p.GetProperty("prompt").GetString()));
            Assert.All(library[i].NearestPrompts.Zip(nearest), p => Assert.Equal(p.First.Score, p.Second.GetProperty("score").GetSingle(), 1e-5));
            Assert.Equal(3, nearest.Count);
            Assert.Equal(library[i].Prompt, predictions[i].GetProperty("prompt").GetString());
            Assert.StartsWith("prompt ", predictions[i].GetProperty("prompt").GetString());
            Assert.Equal(rows[i].ImagePath, predictions[i].GetProperty("image").GetString());
            var embedding = predictions[i].GetProperty("embedding").EnumerateArray().Select(e => e.GetSingle()).ToArray();
            Assert.Equal(384, embedding.Length);
            for (int j = 0; j < 384; j++)
            {
                maxDiff = Math.Max(maxDiff, Math.Abs(embedding[j] - inProcess[i][j]));
                maxReloadDiff = Math.Max(maxReloadDiff, Math.Abs(reloaded[i][j] - inProcess[i][j]));
            }
            var words = predictions[i].GetProperty("top_words").EnumerateArray().ToList();
            Assert.All(words, w => Assert.Equal(["word", "probability", "training_frequency", "lift"], w.EnumerateObject().Select(p => p.Name)));
            Assert.Equal(library[i].TopWords.Select(w => w.Word), words.Select(w => w.GetProperty("word").GetString()));
            Assert.Equal(library[i].TopWords.Select(w => w.Lift!.Value), words.Select(w => w.GetProperty("lift").GetSingle()));
        }
        Assert.True(maxDiff <= 1e-5, $"fresh process differs by {maxDiff}");
        Assert.True(maxReloadDiff <= 1e-5, $"reloaded model differs by {maxReloadDiff}");
    }

    /// <summary>
    /// Runs examples/ScoreInYourApp (a fresh process with only Microsoft.ML, ImageAnalytics and OnnxTransformer) on
    /// <paramref name="zip"/> and <paramref name="images"/>; returns its console output and the JSON it wrote to <paramref name="json"/>.
    /// </summary>
    internal static (string Stdout, JsonElement Output) RunExample(string zip, IEnumerable<string> images, string json)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { ExampleDll(), zip }.Concat(images).Concat(["--out", json]))
            start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(120_000), "the example app did not finish within 2 minutes");
        Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}: {stderr.Result}");
        using var output = JsonDocument.Parse(File.ReadAllText(json));
        return (stdout, output.RootElement.Clone());
    }

    /// <summary>The "embedding" of every prediction <see cref="RunExample"/> wrote.</summary>
    internal static float[][] Embeddings(JsonElement output) =>
        output.EnumerateArray().Select(p => p.GetProperty("embedding").EnumerateArray().Select(e => e.GetSingle()).ToArray()).ToArray();

    /// <summary>The example's dll in the same configuration as this test assembly.</summary>
    internal static string ExampleDll()
    {
        string configuration = typeof(ScoreInYourAppTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        return Path.Combine(SharedData.RepoRoot, "examples", "ScoreInYourApp", "bin", configuration, "net10.0", "ScoreInYourApp.dll");
    }

    /// <summary>Solid-colour PNGs whose target embedding is a planted linear function of the colour.</summary>
    private static TrainingRow[] WriteColouredImages(string folder, int count)
    {
        var random = new Random(3);
        var projection = Enumerable.Range(0, 4 * 384).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        var rows = new TrainingRow[count];
        for (int i = 0; i < count; i++)
        {
            float[] rgb = [(float)random.NextDouble(), (float)random.NextDouble(), (float)random.NextDouble()];
            string path = Path.Combine(folder, $"img{i:D3}.png");
            using (var bitmap = new SKBitmap(16, 16))
            {
                bitmap.Erase(new SKColor((byte)(rgb[0] * 255), (byte)(rgb[1] * 255), (byte)(rgb[2] * 255)));
                using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
                File.WriteAllBytes(path, data.ToArray());
            }
            var y = new float[384];
            for (int j = 0; j < 384; j++)
                y[j] = projection[j] * rgb[0] + projection[384 + j] * rgb[1] + projection[768 + j] * rgb[2] + projection[1152 + j];
            float norm = MathF.Sqrt(y.Sum(v => v * v));
            rows[i] = new TrainingRow { ImagePath = path, PromptEmbedding = y.Select(v => v / norm).ToArray(), VocabularyLabels = rgb.Select(c => c > 0.5f ? 1f : 0f).ToArray() };
        }
        return rows;
    }
}
