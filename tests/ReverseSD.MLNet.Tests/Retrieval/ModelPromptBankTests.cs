using Microsoft.ML;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Heads;
using ReverseSD.MLNet.Pipeline;
using ReverseSD.MLNet.Retrieval;

namespace ReverseSD.MLNet.Tests.Retrieval;

/// <summary>A tiny generated benchmark whose features are cached once for the prompt bank tests.</summary>
public sealed class PromptBankTrainingData : IDisposable
{
    public PromptBankTrainingData() =>
        SyntheticBenchmark.Generate(new SyntheticBenchmarkOptions { Train = 24, Validation = 8, Test = 6, ImageSize = 64, Seed = 9 }, Data);

    internal TempDirectory Directory { get; } = new();

    public string Data => Directory.File("data");

    public ReverseSdTrainingOptions Options(string bank) => new()
    {
        Backbone = "resnet18-64",
        VocabularySize = 20,
        CacheDirectory = Directory.File("cache"),
        PromptBank = bank,
        Heads = new PromptEmbeddingHeadsTrainer.Options { NumberOfEpochs = 2, BatchSize = 8, Device = HeadsDevice.Cpu },
    };

    public IDataView TestImages(MLContext ml) => ml.Data.LoadFromEnumerable(ImageFolderDataset.Read(Data, "test")
        .Select(p => new TinyEnsemble.ImageOnly { ImagePath = Path.GetFullPath(Path.Combine(Data, "test", p.FileName)) }).ToList());

    public void Dispose() => Directory.Dispose();
}

/// <summary>`train --bank train|none|BANK`: the prompt bank saved in the model zip as its NearestPrompts stage.</summary>
[Trait("Category", "Slow")]
public sealed class ModelPromptBankTests(PromptBankTrainingData fixture) : IClassFixture<PromptBankTrainingData>
{
    [Fact]
    public void TheDefaultBankIsTheDistinctTrainingPromptsAndAPlainMlNetAppReadsThemFromTheZip()
    {
        var ml = new MLContext(1);
        using var trained = ReverseSdModel.Train(ml, fixture.Data, fixture.Options(ReverseSdTrainingOptions.TrainingPromptsBank));
        string zip = fixture.Directory.File("train-bank.zip");
        trained.Save(zip);

        var loaded = ml.Model.Load(zip, out _);
        var scored = loaded.Transform(fixture.TestImages(ml));
        var prompts = VectorData.ReadTextColumn(scored, ColumnNames.NearestPrompts);
        var scores = VectorData.ReadColumn(scored, ColumnNames.NearestPromptScores);
        var trainPrompts = ImageFolderDataset.Read(fixture.Data, "train").Select(p => p.Prompt).ToHashSet(StringComparer.Ordinal);
        Assert.Equal(6, prompts.Length);
        Assert.All(prompts, p => Assert.Equal(Math.Min(ReverseSdPipeline.NearestPromptCount, trainPrompts.Count), p.Length));
        Assert.All(prompts.SelectMany(p => p), p => Assert.Contains(p, trainPrompts));
        Assert.All(prompts, p => Assert.Equal(p.Length, p.Distinct().Count()));
        Assert.All(scores, s => Assert.Equal(s.OrderByDescending(v => v), s));

        // The library reads the same columns as the answer in words (predict's --compose none).
        var predictions = ReverseSdModel.Predict(ml, loaded, ImageFolderDataset.Read(fixture.Data, "test")
            .Select(p => Path.Combine(fixture.Data, "test", p.FileName)).ToList(), 5, out _);
        Assert.Equal(prompts.Select(p => p[0]), predictions.Select(p => p.Prompt));
        (loaded as IDisposable)?.Dispose();
    }

    [Fact]
    public void ABankFileGoesIntoTheZipAndNoneLeavesThePromptColumnsOut()
    {
        var ml = new MLContext(1);
        string bankPath = fixture.Directory.File("four.rsdbank");
        string[] bankPrompts = ["a red fox in the snow", "a castle on a hill", "portrait of an old sailor", "a bowl of fruit"];
        PromptBankBuilder.Write(bankPath, bankPrompts, PromptBankBenchmark.RandomUnitVectors(4, 384, seed: 2).ToList(),
            new PromptBankInfo { Encoder = PromptBank.EncoderIdentity, EncoderSha256 = PromptBank.EncoderSha256, Sources = ["test"], Filters = "none" });
        using (var trained = ReverseSdModel.Train(ml, fixture.Data, fixture.Options(bankPath)))
        {
            var prompts = VectorData.ReadTextColumn(trained.Model.Transform(fixture.TestImages(ml)), ColumnNames.NearestPrompts);
            Assert.All(prompts, p => Assert.Equal(bankPrompts.Order(), p.Order()));
        }
        using (var trained = ReverseSdModel.Train(ml, fixture.Data, fixture.Options(ReverseSdTrainingOptions.NoBank)))
        {
            var schema = trained.Model.Transform(fixture.TestImages(ml)).Schema;
            Assert.NotNull(schema.GetColumnOrNull(ColumnNames.PredictedEmbedding));
            Assert.Null(schema.GetColumnOrNull(ColumnNames.NearestPrompts));
            Assert.Null(schema.GetColumnOrNull(ColumnNames.NearestPromptScores));
        }
    }

    [Fact]
    public void ABankTooLargeForTheZipIsRefusedWithTheAdviceToPassItAtPredictionTime()
    {
        var ml = new MLContext(1);
        string bankPath = fixture.Directory.File("two.rsdbank");
        PromptBankBuilder.Write(bankPath, ["a red fox", "a blue bird"], PromptBankBenchmark.RandomUnitVectors(2, 384, seed: 3).ToList(),
            new PromptBankInfo { Encoder = PromptBank.EncoderIdentity, EncoderSha256 = PromptBank.EncoderSha256, Sources = ["test"], Filters = "none" });
        // The limit is a seam (ONNX's 2 GB in real use): 2 prompts × 384 floats pass 1,000 bytes, as the training prompts do.
        foreach (string bank in new[] { bankPath, ReverseSdTrainingOptions.TrainingPromptsBank })
        {
            var options = fixture.Options(bank);
            options.MaxPromptBankBytes = 1_000;
            var error = Assert.Throws<ReverseSdInputException>(() => ReverseSdModel.Train(ml, fixture.Data, options));
            Assert.Contains("too large for the model zip", error.Message);
            Assert.Contains("--bank none", error.Message);
            Assert.Contains("predict --bank", error.Message);
        }
        // Within the limit the same bank file is accepted.
        Assert.NotNull(ReverseSdPipeline.Create(ml, fixture.Options(bankPath)));
    }

    [Fact]
    public void TrainWithABankThatDoesNotExistExitsWithCode2BeforeTraining()
    {
        string missing = fixture.Directory.File("missing.rsdbank");
        var result = CliRunner.Run("train", "--data", fixture.Data, "--out", fixture.Directory.File("m.zip"), "--bank", missing, "--epochs", "1");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("missing.rsdbank", result.Output);
        Assert.False(File.Exists(fixture.Directory.File("m.zip")));
    }
}
