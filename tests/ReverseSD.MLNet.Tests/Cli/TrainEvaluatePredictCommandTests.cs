using System.Text.Json;
using ReverseSD.Cli;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Evaluation;
using Spectre.Console.Cli.Testing;

namespace ReverseSD.MLNet.Tests.Cli;

[Trait("Category", "Slow")]
public sealed class TrainEvaluatePredictCommandTests(TinyTrainedModel tiny) : IClassFixture<TinyTrainedModel>
{
    [Fact]
    public void TrainWritesAModelZipAndAReportWithTheModelBaselineAndCeiling()
    {
        Assert.True(tiny.TrainResult.ExitCode == 0, tiny.TrainResult.Output);
        Assert.True(File.Exists(tiny.Model));
        using var report = JsonDocument.Parse(File.ReadAllText(tiny.Directory.File("train-report.json")));
        var root = report.RootElement;
        Assert.Equal(EvaluationReport.FormatVersion, root.GetProperty("report_format").GetString());
        Assert.Equal(10, root.GetProperty("n").GetInt32());
        foreach (var key in new[] { "mean_cosine", "baseline_mean_cosine", "ceiling_mean_cosine" })
            Assert.InRange(root.GetProperty(key).GetDouble(), -1, 1);
        Assert.Equal("EmbeddingFeedsVocabulary", root.GetProperty("options").GetProperty("head").GetString());
        // Numbers are JSON numbers, at the precision they were given: --epochs 3, λ = 0.1 (not "0.10000000149011612").
        Assert.Equal(JsonValueKind.Number, root.GetProperty("options").GetProperty("epochs").ValueKind);
        Assert.Equal("0.1", root.GetProperty("options").GetProperty("lambda").GetRawText());
        Assert.Equal(["index", "image", "cosine", "baseline_cosine"], CsvTable.Read(tiny.Directory.File("train-report-samples.csv")).Header);
        Assert.Equal(3, root.GetProperty("training_history").GetArrayLength());
        Assert.InRange(root.GetProperty("best_epoch").GetInt32(), 1, 3);
        Assert.True(File.Exists(tiny.Directory.File("train-report-samples.csv")));
        Assert.Contains("visual-only ceiling", tiny.TrainResult.Output);
    }

    [Fact]
    public void EvaluateOfTheSavedZipReproducesTheTrainingReportFromTheImages()
    {
        string reportPath = tiny.Directory.File("eval.json");
        string pagePath = tiny.Directory.File("eval.html");
        var result = CliRunner.Run("evaluate", "--model", tiny.Model, "--data", tiny.Data, "--report", reportPath, "--html", pagePath, "--steps", "2", "--candidates", "8");
        Assert.True(result.ExitCode == 0, result.Output);
        using var train = JsonDocument.Parse(File.ReadAllText(tiny.Directory.File("train-report.json")));
        using var eval = JsonDocument.Parse(File.ReadAllText(reportPath));
        // train scores cached features with the heads; evaluate scores the image files through the saved chain.
        Assert.Equal(train.RootElement.GetProperty("mean_cosine").GetDouble(), eval.RootElement.GetProperty("mean_cosine").GetDouble(), 5);
        Assert.Equal(train.RootElement.GetProperty("baseline_mean_cosine").GetDouble(), eval.RootElement.GetProperty("baseline_mean_cosine").GetDouble(), 6);
        var cosines = MLNet.Evaluation.PromptEmbeddingEvaluator.ReadSampleCosines(tiny.Directory.File("eval-samples.csv"));
        Assert.Equal(10, cosines.Count);
        string page = File.ReadAllText(pagePath);
        Assert.Equal(3, System.Text.RegularExpressions.Regex.Matches(page, "src=\"data:image/png;base64,").Count);
        Assert.Contains(ImageFolderDataset.Read(tiny.Data, "test")[0].Prompt.Split(' ')[0], page);
        // By default the answers in words are scored too, against the training prompts: in the JSON, the text and the page.
        var prompts = eval.RootElement.GetProperty("prompts");
        Assert.Equal("training prompts", prompts.GetProperty("bank").GetString());
        Assert.Equal("beam", prompts.GetProperty("composition").GetString());
        Assert.Equal(["top1", "composed", "oracle"], prompts.GetProperty("rows").EnumerateArray().Select(r => r.GetProperty("method").GetString()));
        Assert.Contains("bank oracle", result.Output);
        Assert.Contains("Answers in words", page);
        Assert.Contains("composed prompt (beam)", page);
    }

    [Fact]
    public void EvaluatePromptRowsScoreTheNearestPromptAndTheOracleAgainstTheTruePromptsAsAPlainComputationDoes()
    {
        string bankPath = tiny.Directory.File("train-eval.rsdbank");
        if (!File.Exists(bankPath))
            Assert.Equal(0, CliRunner.Run("bank", "build", "--input", tiny.Data + "/train/metadata.csv", "--out", bankPath).ExitCode);
        string reportPath = tiny.Directory.File("eval-bank.json");
        var result = CliRunner.Run("evaluate", "--model", tiny.Model, "--data", tiny.Data, "--report", reportPath, "--bank", bankPath, "--compose", "none");
        Assert.True(result.ExitCode == 0, result.Output);
        using var eval = JsonDocument.Parse(File.ReadAllText(reportPath));
        var prompts = eval.RootElement.GetProperty("prompts");
        Assert.Equal(Path.GetFullPath(bankPath), prompts.GetProperty("bank").GetString());
        var rows = prompts.GetProperty("rows").EnumerateArray().ToDictionary(r => r.GetProperty("method").GetString()!);
        Assert.Equal(["top1", "oracle"], rows.Keys); // --compose none: no composed row

        // The same numbers by hand: predict's nearest prompt per image (--compose none), MiniLM of it and of the true
        // prompt; the oracle as the best cosine of any training prompt, by a plain loop.
        var test = ImageFolderDataset.Read(tiny.Data, "test");
        var train = ImageFolderDataset.Read(tiny.Data, "train").Select(p => p.Prompt).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        var predict = CliRunner.Run("predict", "--model", tiny.Model, Path.Combine(tiny.Data, "test"), "--bank", bankPath, "--compose", "none", "--format", "json");
        Assert.True(predict.ExitCode == 0, predict.Output);
        using var predictions = JsonDocument.Parse(predict.Output);
        var nearest = predictions.RootElement.EnumerateArray().ToDictionary(p => Path.GetFileName(p.GetProperty("image").GetString()!), p => p.GetProperty("prompt").GetString()!);
        using var encoder = MLNet.Text.SentenceEncoder.Load();
        var truth = encoder.Encode(test.Select(p => p.Prompt).ToList());
        var top1 = encoder.Encode(test.Select(p => nearest[p.FileName]).ToList());
        var bank = encoder.Encode(train);
        var expectedTop1 = truth.Select((t, i) => PromptEmbeddingEvaluator.Cosine(top1[i], t)).ToList();
        var expectedOracle = truth.Select(t => bank.Max(b => PromptEmbeddingEvaluator.Cosine(b, t))).ToList();
        Assert.Equal(expectedTop1.Average(), rows["top1"].GetProperty("mean_cosine").GetDouble(), 4);
        Assert.Equal(expectedOracle.Average(), rows["oracle"].GetProperty("mean_cosine").GetDouble(), 4);

        // Paired against the embedding row; per image, the oracle is never below the nearest prompt (it is the best bank prompt for the truth).
        double embedding = eval.RootElement.GetProperty("mean_cosine").GetDouble();
        Assert.Equal(expectedTop1.Average() - embedding, rows["top1"].GetProperty("versus_embedding").GetProperty("mean_difference").GetDouble(), 4);
        var csv = tiny.Directory.File("eval-bank-samples.csv");
        var top1Column = PromptEmbeddingEvaluator.ReadSampleCosines(csv, "top1_cosine");
        var oracleColumn = PromptEmbeddingEvaluator.ReadSampleCosines(csv, "oracle_cosine");
        Assert.All(top1Column.Zip(oracleColumn), p => Assert.True(p.Second >= p.First - 1e-5, $"oracle {p.Second} < top-1 {p.First}"));

        var none = CliRunner.Run("evaluate", "--model", tiny.Model, "--data", tiny.Data, "--report", tiny.Directory.File("eval-none.json"), "--bank", "none");
        Assert.True(none.ExitCode == 0, none.Output);
        using (var noRows = JsonDocument.Parse(File.ReadAllText(tiny.Directory.File("eval-none.json"))))
            Assert.Equal(JsonValueKind.Null, noRows.RootElement.GetProperty("prompts").ValueKind);
        Assert.Equal(CliApp.BadInput, CliRunner.Run("evaluate", "--model", tiny.Model, "--data", tiny.Data, "--bank", tiny.Directory.File("missing.rsdbank")).ExitCode);
    }

    [Fact]
    public void EvaluateFromAThreeShardCacheEqualsEvaluateFromTheImagesAndAMissingShardIsNamed()
    {
        string cache = tiny.Directory.File("evaluate-shards");
        foreach (string split in new[] { "test", "train" })
            for (int k = 0; k < 3; k++)
            {
                var shard = CliRunner.Run("featurize", "--data", tiny.Data, "--split", split, "--backbone", "resnet18", "--text",
                    "--cache-dir", cache, "--shard", $"{k}/3");
                Assert.True(shard.ExitCode == 0, shard.Output);
            }
        string fromImages = tiny.Directory.File("eval-images.json"), fromCache = tiny.Directory.File("eval-cache.json");
        var images = CliRunner.Run("evaluate", "--model", tiny.Model, "--data", tiny.Data, "--report", fromImages);
        Assert.True(images.ExitCode == 0, images.Output);
        var cached = CliRunner.Run("evaluate", "--model", tiny.Model, "--data", tiny.Data, "--report", fromCache, "--cache-dir", cache);
        Assert.True(cached.ExitCode == 0, cached.Output);
        using var a = JsonDocument.Parse(File.ReadAllText(fromImages));
        using var b = JsonDocument.Parse(File.ReadAllText(fromCache));
        Assert.Equal(Path.GetFullPath(cache), b.RootElement.GetProperty("options").GetProperty("cache_dir").GetString());
        foreach (var key in new[] { "mean_cosine", "baseline_mean_cosine", "ceiling_mean_cosine" })
            Assert.Equal(a.RootElement.GetProperty(key).GetDouble(), b.RootElement.GetProperty(key).GetDouble(), 5);
        Assert.Equal(
            PromptEmbeddingEvaluator.ReadSampleCosines(tiny.Directory.File("eval-images-samples.csv")),
            PromptEmbeddingEvaluator.ReadSampleCosines(tiny.Directory.File("eval-cache-samples.csv")),
            (x, y) => Math.Abs(x - y) < 1e-5);

        // A sharded cache is only read: a lost shard is named, with the command that fills it.
        var shardFolder = Directory.GetDirectories(cache, "test-*").Single();
        Directory.Delete(Path.Combine(shardFolder, "shard-1-of-3"), recursive: true);
        var missing = CliRunner.Run("evaluate", "--model", tiny.Model, "--data", tiny.Data, "--report", tiny.Directory.File("eval-missing.json"),
            "--cache-dir", cache);
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("shard 1/3", missing.Output);
        Assert.Contains("reversesd featurize", missing.Output);
    }

    [Fact]
    public void PredictListsEmbeddingAndTopWordsForAFolderOfImages()
    {
        string folder = Path.Combine(tiny.Data, "test");
        var result = CliRunner.Run("predict", "--model", tiny.Model, folder, "--top-words", "4");
        Assert.True(result.ExitCode == 0, result.Output);
        using var json = JsonDocument.Parse(result.Output);
        var items = json.RootElement.EnumerateArray().ToList();
        Assert.Equal(10, items.Count);
        Assert.All(items, i =>
        {
            Assert.Equal(384, i.GetProperty("embedding").GetArrayLength());
            Assert.Equal(4, i.GetProperty("words").GetArrayLength());
            Assert.Equal(JsonValueKind.Null, i.GetProperty("prompt").ValueKind); // no bank in this zip and none given
        });
        var csv = CliRunner.Run("predict", "--model", tiny.Model, Path.Combine(folder, "000000.png"), "--format", "csv");
        Assert.True(csv.ExitCode == 0, csv.Output);
        var lines = csv.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.StartsWith("image,prompt,prompt_score,nearest_prompts,words,e0,", lines[0]);
    }

    [Fact]
    public void PredictWithABankAnswersWithAComposedPromptScoredAgainstTheEmbedding()
    {
        // The bank: the training prompts of the tiny benchmark.
        string bank = tiny.Directory.File("train.rsdbank");
        if (!File.Exists(bank))
            Assert.Equal(0, CliRunner.Run("bank", "build", "--input", tiny.Data + "/train/metadata.csv", "--out", bank).ExitCode);
        string image = Path.Combine(tiny.Data, "test", "000000.png");
        foreach (string method in new[] { "none", "beam" })
        {
            var result = CliRunner.Run("predict", "--model", tiny.Model, image, "--bank", bank, "--compose", method, "--format", "jsonl", "--steps", "2", "--candidates", "8");
            Assert.True(result.ExitCode == 0, result.Output);
            using var json = JsonDocument.Parse(result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Single());
            var r = json.RootElement;
            var nearest = r.GetProperty("nearest_prompts").EnumerateArray().ToList();
            Assert.Equal(10, nearest.Count);
            float top = nearest[0].GetProperty("score").GetSingle();
            float score = r.GetProperty("prompt_score").GetSingle();
            if (method == "none")
            {
                Assert.Equal(nearest[0].GetProperty("prompt").GetString(), r.GetProperty("prompt").GetString());
                Assert.Equal(top, score, 1e-5f);
            }
            else
                Assert.True(score >= top - 1e-5f, $"composed {score} < nearest {top}");
        }
        Assert.Equal(2, CliRunner.Run("predict", "--model", tiny.Model, image, "--bank", tiny.Directory.File("none.rsdbank")).ExitCode);
    }

    [Fact]
    public void PredictCsvOfSeveralImagesParsesToOneRecordPerImageEqualToTheJson()
    {
        string folder = Path.Combine(tiny.Data, "test");
        var json = CliProcess.Run("predict", "--model", tiny.Model, folder, "--top-words", "3");
        var csv = CliProcess.Run("predict", "--model", tiny.Model, folder, "--top-words", "3", "--format", "CSV");
        Assert.True(json.ExitCode == 0, json.Error);
        Assert.True(csv.ExitCode == 0, csv.Error);
        Assert.Equal("", csv.Error);
        using var doc = JsonDocument.Parse(json.Out);
        var items = doc.RootElement.EnumerateArray().ToList();
        var rows = ResultWriterTests.ParseCsv(csv.Out);
        Assert.Equal(["image", "prompt", "prompt_score", "nearest_prompts", "words", .. Enumerable.Range(0, 384).Select(i => $"e{i}")], rows[0]);
        Assert.Equal(items.Count, rows.Count - 1);
        Assert.Equal(10, items.Count);
        Assert.All(rows, r => Assert.Equal(5 + 384, r.Length));
        for (int i = 0; i < items.Count; i++)
        {
            Assert.Equal(items[i].GetProperty("image").GetString(), rows[i + 1][0]);
            Assert.Equal(items[i].GetProperty("words").GetRawText(), rows[i + 1][4]);
            Assert.Equal(items[i].GetProperty("embedding").EnumerateArray().Select(e => e.GetSingle()),
                rows[i + 1][5..].Select(v => float.Parse(v, System.Globalization.CultureInfo.InvariantCulture)));
        }
    }

    [Fact]
    public void PredictWritesTheSameResultsToOutAndToStdout()
    {
        string image = Path.Combine(tiny.Data, "test", "000002.png");
        string path = tiny.Directory.File("predictions.jsonl");
        var toFile = CliProcess.Run("predict", "--model", tiny.Model, image, "--out", path);
        var toStdout = CliProcess.Run("predict", "--model", tiny.Model, image, "--format", "Jsonl");
        Assert.True(toFile.ExitCode == 0, toFile.Error);
        Assert.Equal(toStdout.Out, File.ReadAllText(path));
        Assert.DoesNotContain("{", toFile.Out);
    }

    [Fact]
    public void PredictErrorsGoToStderrAndLeaveStdoutEmpty()
    {
        var run = CliProcess.Run("predict", "--model", tiny.Directory.File("missing.zip"), Path.Combine(tiny.Data, "test"));
        Assert.Equal(CliApp.BadInput, run.ExitCode);
        Assert.Equal("", run.Out);
        Assert.Contains("missing.zip", Assert.Single(run.ErrorLines));
    }

    [Fact]
    public void PredictSkipsAnUnreadableImageAndScoresTheOthers()
    {
        string folder = tiny.Directory.File("mixed");
        System.IO.Directory.CreateDirectory(folder);
        File.Copy(Path.Combine(tiny.Data, "test", "000001.png"), Path.Combine(folder, "a.png"), overwrite: true);
        File.WriteAllText(Path.Combine(folder, "b.png"), "not a png");
        var result = CliProcess.Run("predict", "--model", tiny.Model, folder);
        Assert.True(result.ExitCode == 0, result.Error);
        Assert.StartsWith($"warning: skipped unreadable image '{Path.Combine(folder, "b.png")}'", Assert.Single(result.ErrorLines));
        using var json = JsonDocument.Parse(result.Out);
        Assert.Equal([Path.Combine(folder, "a.png")], json.RootElement.EnumerateArray().Select(e => e.GetProperty("image").GetString()));
    }

    [Fact]
    public void AZipLoadedForScoringOnlyReadsItsBackboneOnceAndPredictsExactlyAsTheUsualLoad()
    {
        var ml = new Microsoft.ML.MLContext(1);
        var usual = MLNet.Pipeline.ReverseSdModel.Load(ml, tiny.Model);
        var forScoring = MLNet.Pipeline.ReverseSdModel.Load(ml, tiny.Model, forScoringOnly: true);
        try
        {
            var images = System.IO.Directory.GetFiles(Path.Combine(tiny.Data, "test"), "*.png").Order(StringComparer.Ordinal).ToList();
            var options = new MLNet.Pipeline.PromptPredictionOptions { TopWords = 3, Composition = MLNet.Composer.CompositionMethod.None };
            var expected = MLNet.Pipeline.ReverseSdModel.PredictStream(ml, usual, images, options, chunkSize: 4).ToList();
            var actual = MLNet.Pipeline.ReverseSdModel.PredictStream(ml, forScoring, images, options, chunkSize: 4).ToList();

            Assert.True(MLNet.Pipeline.ModelImageScorer.For(ml, forScoring).UsesFastPath);
            Assert.Equal(expected.Count, actual.Count);
            for (int i = 0; i < expected.Count; i++)
            {
                Assert.Equal(expected[i].Prediction!.Embedding, actual[i].Prediction!.Embedding);
                Assert.Equal(expected[i].Prediction!.TopWords, actual[i].Prediction!.TopWords);
                Assert.Equal(expected[i].Prediction!.Prompt, actual[i].Prediction!.Prompt);
            }
            // The chain it loaded holds a placeholder backbone (never run by predict): a few bytes, not the ResNet18 graph.
            var backboneStage = Assert.IsType<Microsoft.ML.Data.TransformerChain<Microsoft.ML.ITransformer>>(
                ((Microsoft.ML.Data.TransformerChain<Microsoft.ML.ITransformer>)forScoring).First());
            var onnx = Assert.Single(backboneStage.OfType<Microsoft.ML.Transforms.Onnx.OnnxTransformer>());
            using var saved = new MemoryStream();
            ml.Model.Save(onnx, null, saved);
            Assert.InRange(saved.Length, 1, 100_000);
        }
        finally
        {
            (usual as IDisposable)?.Dispose();
            (forScoring as IDisposable)?.Dispose();
        }
    }

    [Fact]
    public void PredictOfALoadedZipRunsTheFastPathAndGivesTheMlNetChainsNumbers()
    {
        var ml = new Microsoft.ML.MLContext(1);
        var model = MLNet.Pipeline.ReverseSdModel.Load(ml, tiny.Model);
        try
        {
            var images = System.IO.Directory.GetFiles(Path.Combine(tiny.Data, "test"), "*.png").Order(StringComparer.Ordinal).ToList();
            string corrupt = tiny.Directory.File("fast-corrupt.png");
            File.WriteAllText(corrupt, "not a png");
            images.Insert(3, corrupt);
            using (var scorer = MLNet.Pipeline.ModelImageScorer.Create(ml, model))
                Assert.True(scorer.UsesFastPath);

            var streamed = MLNet.Pipeline.ReverseSdModel.PredictStream(ml, model, images, topWords: 3, chunkSize: 4).ToList();

            Assert.Equal(images, streamed.Select(r => r.ImagePath));
            Assert.Equal([corrupt], streamed.Where(r => r.Prediction == null).Select(r => r.ImagePath));
            var readable = images.Where(i => i != corrupt).ToList();
            var chain = model.Transform(ml.Data.LoadFromEnumerable(readable.Select(p => new PathRow { ImagePath = p }).ToList()));
            var expected = MLNet.Evaluation.PromptEmbeddingEvaluator.ReadVectors(chain, "PredictedEmbedding");
            var actual = streamed.Where(r => r.Prediction != null).Select(r => r.Prediction!.Embedding).ToList();
            Assert.Equal(expected.Length, actual.Count);
            for (int i = 0; i < actual.Count; i++)
                Assert.All(expected[i].Zip(actual[i]), p => Assert.True(MathF.Abs(p.First - p.Second) <= 1e-4f, $"image {i}: {p.First} vs {p.Second}"));
            Assert.All(streamed.Where(r => r.Prediction != null), r => Assert.Equal(3, r.Prediction!.TopWords.Count));
        }
        finally
        {
            (model as IDisposable)?.Dispose();
        }
    }

    [Fact]
    public void PredictOutKilledAfterAChunkContinuesOnRestartWithIdenticalOutput()
    {
        // 300 images (the test split repeated) in chunks of 5: the process is killed (SIGKILL) as soon as a chunk is kept.
        var test = System.IO.Directory.GetFiles(Path.Combine(tiny.Data, "test"), "*.png").Order(StringComparer.Ordinal).ToList();
        string corrupt = tiny.Directory.File("resume-corrupt.png");
        File.WriteAllText(corrupt, "not a png");
        var images = Enumerable.Range(0, 30).SelectMany(_ => test).ToList();
        images[7] = corrupt;
        string killed = tiny.Directory.File("resumed.jsonl"), whole = tiny.Directory.File("whole.jsonl");
        string[] Args(string output) => ["predict", "--model", tiny.Model, "--out", output, "--chunk-size", "5", "--top-words", "3", .. images];
        string state = killed + ".partial.json", scratch = tiny.Directory.File("killed-tmp");
        System.IO.Directory.CreateDirectory(scratch);

        CliChildProcess.KillOnceWorkIsKept(scratch, () => File.Exists(state), Args(killed));
        Assert.False(File.Exists(killed), "the killed run wrote its output");
        using (var kept = JsonDocument.Parse(File.ReadAllText(state)))
            Assert.InRange(kept.RootElement.GetProperty("inputs_done").GetInt32(), 5, 295);

        var resumed = CliProcess.Run(Args(killed));
        var uninterrupted = CliProcess.Run(Args(whole));

        Assert.True(resumed.ExitCode == 0, resumed.Error);
        Assert.True(uninterrupted.ExitCode == 0, uninterrupted.Error);
        Assert.Contains("continuing", resumed.Out);
        Assert.DoesNotContain("continuing", uninterrupted.Out);
        Assert.Equal(File.ReadAllText(whole), File.ReadAllText(killed));
        Assert.Equal(299, File.ReadAllLines(killed).Length);
        Assert.Equal(resumed.ErrorLines, uninterrupted.ErrorLines);   // the skipped image is reported by the resumed run too
        Assert.Single(resumed.ErrorLines);
        Assert.False(File.Exists(killed + ".partial"));
        Assert.False(File.Exists(state));
    }

    [Fact]
    public void PredictOutWithABankKilledAfterAChunkContinuesOnRestartWithByteIdenticalOutput()
    {
        // 40 images (the test split four times) in chunks of 5, prompts composed by beam search over an external bank: the
        // composer of the resumed run starts with an empty text cache, and must still write the same bytes.
        string bankPath = tiny.Directory.File("resume.rsdbank");
        if (!File.Exists(bankPath))
            Assert.Equal(0, CliRunner.Run("bank", "build", "--input", tiny.Data + "/train/metadata.csv", "--out", bankPath).ExitCode);
        var test = System.IO.Directory.GetFiles(Path.Combine(tiny.Data, "test"), "*.png").Order(StringComparer.Ordinal).ToList();
        var images = Enumerable.Range(0, 4).SelectMany(_ => test).ToList();
        string killed = tiny.Directory.File("bank-resumed.jsonl"), whole = tiny.Directory.File("bank-whole.jsonl");
        string[] Args(string output) => ["predict", "--model", tiny.Model, "--bank", bankPath, "--out", output, "--chunk-size", "5",
            "--steps", "2", "--candidates", "8", "--top-words", "3", .. images];
        string state = killed + ".partial.json", scratch = tiny.Directory.File("bank-killed-tmp");
        System.IO.Directory.CreateDirectory(scratch);

        CliChildProcess.KillOnceWorkIsKept(scratch, () => File.Exists(state), Args(killed));
        Assert.False(File.Exists(killed), "the killed run wrote its output");
        using (var kept = JsonDocument.Parse(File.ReadAllText(state)))
            Assert.InRange(kept.RootElement.GetProperty("inputs_done").GetInt32(), 5, 35);

        var resumed = CliProcess.Run(Args(killed));
        var uninterrupted = CliProcess.Run(Args(whole));

        Assert.True(resumed.ExitCode == 0, resumed.Error);
        Assert.True(uninterrupted.ExitCode == 0, uninterrupted.Error);
        Assert.Contains("continuing", resumed.Out);
        Assert.Equal(File.ReadAllBytes(whole), File.ReadAllBytes(killed));
        Assert.Equal(40, File.ReadAllLines(killed).Length);
        Assert.All(File.ReadAllLines(killed), line => Assert.Contains("\"prompt\":\"", line));
    }

    private sealed class PathRow
    {
        public string ImagePath { get; set; } = "";
    }

    [Theory]
    [InlineData("train", "--data", "{missing}", "--out", "{dir}/m.zip")]
    [InlineData("evaluate", "--model", "{missing}.zip", "--data", "{data}")]
    [InlineData("predict", "--model", "{corrupt}", "{data}/test")]
    [InlineData("predict", "--model", "{model}", "{missing}.png")]
    [InlineData("train", "--data", "{data}", "--head", "7")]
    public void BadInputExitsWithCodeTwo(params string[] args)
    {
        File.WriteAllText(tiny.Directory.File("corrupt.zip"), "not a zip");
        var resolved = args.Select(a => a.Replace("{missing}", tiny.Directory.File("missing")).Replace("{dir}", tiny.Directory.Path)
            .Replace("{data}", tiny.Data).Replace("{corrupt}", tiny.Directory.File("corrupt.zip")).Replace("{model}", tiny.Model)).ToArray();
        var result = CliRunner.Run(resolved);
        Assert.Equal(CliApp.BadInput, result.ExitCode);
        Assert.Single(result.Output.Trim().Split('\n'), l => l.StartsWith("error:", StringComparison.Ordinal));
    }
}
