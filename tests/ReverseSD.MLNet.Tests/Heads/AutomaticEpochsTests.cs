using ReverseSD.MLNet.Heads;
using TorchSharp;

namespace ReverseSD.MLNet.Tests.Heads;

public sealed class AutomaticEpochsTests
{
    private static readonly PromptEmbeddingHeadsTrainer.Options Options = new()
    {
        Configuration = HeadConfiguration.Vanilla, Seed = 3, BatchSize = 32, LearningRate = 1e-2, Device = HeadsDevice.Cpu,
    };

    /// <summary>Trains on 64 rows of one planted relation with validation rows of another, so the validation cosine soon stops improving.</summary>
    private static (HeadsTrainingResult Result, double FinalValidationCosine) Train(EarlyStopping stopping, int cap)
    {
        using var gate = TorchRandom.Gate.EnterScope();
        var rows = GeneratedHeadsData.Rows(64, 1);
        var other = GeneratedHeadsData.Rows(40, 2, relationSeed: 7);
        using var train = new HeadsTensors(rows.Select(r => r.ImageFeatures).ToArray(), rows.Select(r => r.PromptEmbedding).ToArray(), null, torch.CPU);
        using var validation = new HeadsTensors(other.Select(r => r.ImageFeatures).ToArray(), other.Select(r => r.PromptEmbedding).ToArray(), null, torch.CPU);
        using var network = PromptEmbeddingHeadsTrainer.CreateNetwork(Options, GeneratedHeadsData.FeatureSize, GeneratedHeadsData.EmbeddingSize, 0, torch.CPU);
        var result = HeadsTrainingLoop.Run(network, PromptEmbeddingHeadsTrainer.LoopSettings(Options), train, validation,
            [new TrainingStage(Enumerable.Range(0, rows.Length).ToArray(), Steps: cap)], earlyStopping: stopping);
        return (result, HeadsTrainingLoop.MeanCosine(network, validation.Features, validation.Targets));
    }

    [Fact]
    public void TrainingStopsWhenPatienceRunsOutAndKeepsTheBestEpoch()
    {
        var (result, finalCosine) = Train(new EarlyStopping(StepFloor: 10, PatienceEpochs: 3, PatienceSteps: 3), cap: 4000);
        Assert.True(result.StoppedEarly);
        Assert.InRange(result.Steps, 10, 3999);
        Assert.Equal(3, result.Epochs.Count - result.BestEpoch);
        var best = result.Epochs[result.BestEpoch - 1].ValidationMeanCosine;
        Assert.Equal(result.Epochs.Max(e => e.ValidationMeanCosine), best);
        Assert.Equal(best, finalCosine, 5);
    }

    [Fact]
    public void TrainingNeverStopsBeforeTheStepFloor()
    {
        var (result, _) = Train(new EarlyStopping(StepFloor: 200, PatienceEpochs: 1, PatienceSteps: 1), cap: 4000);
        Assert.True(result.StoppedEarly);
        Assert.True(result.Steps >= 200, $"stopped after {result.Steps} steps");
    }

    [Fact]
    public void AnAutomaticRunWithTheSameSeedStopsAtTheSameStepWithTheSameWeights()
    {
        var stopping = new EarlyStopping(StepFloor: 10, PatienceEpochs: 3, PatienceSteps: 3);
        var (first, firstCosine) = Train(stopping, cap: 4000);
        var (second, secondCosine) = Train(stopping, cap: 4000);
        Assert.Equal(first.Steps, second.Steps);
        Assert.Equal(first.BestEpoch, second.BestEpoch);
        Assert.Equal(firstCosine, secondCosine);
    }

    [Theory]
    [InlineData(55, 64, 20, 300)]     // the 55 real images: one step per epoch, so the 300-step floor sets the length
    [InlineData(2000, 64, 20, 20)]    // 32 steps per epoch: 20 epochs already pass the floor
    public void WithoutValidationAutomaticEpochsRunAtLeastTheStepFloor(int count, int batchSize, int fixedEpochs, int expectedEpochs)
    {
        var (stage, stopping) = EarlyStopping.Schedule(count, batchSize, hasValidation: false, fixedEpochs);
        Assert.Null(stopping);
        Assert.Equal(expectedEpochs, stage.Epochs);
        var (withValidation, automatic) = EarlyStopping.Schedule(count, batchSize, hasValidation: true, fixedEpochs);
        Assert.Equal(EarlyStopping.StepCap, withValidation.Steps);
        Assert.Same(EarlyStopping.Automatic, automatic);
    }
}
