using Xunit.Abstractions;
using Google.Protobuf;
using Microsoft.ML;
using ReverseSD.MLNet.Backbones;
using ReverseSD.MLNet.FineTuning;
using ReverseSD.MLNet.Heads;
using static ReverseSD.MLNet.Tests.Backbones.BackboneTestData;

namespace ReverseSD.MLNet.Tests.FineTuning;

public sealed class Layer4FineTunerTests(ITestOutputHelper output)
{
    private const int Images = 20, EmbeddingSize = 16, VocabularySize = 6;

    [Fact]
    public void OnnxRuntimeGivesTheFineTunedNetworksFeaturesAfterTheWriteBack()
    {
        using var dir = new TempDirectory();
        var (train, validation) = Data(dir);
        var backbone = ImageBackbone.ResNet18At(64);

        var result = Run(backbone, train, validation);

        using var onnx = BatchedImageFeaturizer.Create(result.Backbone, batchSize: 4);
        var served = onnx.Featurize(train.ImagePaths).Select(f => f.Features!).ToArray();
        using var original = BatchedImageFeaturizer.Create(backbone, batchSize: 4);
        var before = original.Featurize(train.ImagePaths).Select(f => f.Features!).ToArray();
        float worst = 0, moved = 0;
        for (int i = 0; i < Images; i++)
        {
            worst = Math.Max(worst, MaxAbsDiff(served[i], result.TrainFeatures[i]!));
            moved = Math.Max(moved, MaxAbsDiff(before[i], served[i]));
        }
        output.WriteLine($"max |ONNX Runtime - TorchSharp| after write-back = {worst}; max feature change by fine-tuning = {moved}");
        Assert.True(worst <= 1e-4f, $"max |ONNX Runtime - TorchSharp| = {worst}");
        Assert.True(moved > 1e-3f, $"fine-tuning moved the features by at most {moved}");
        Assert.True(result.Epochs[^1].Loss < result.Epochs[0].Loss, $"loss {result.Epochs[0].Loss} → {result.Epochs[^1].Loss}");
    }

    [Fact]
    public void ResNet18GridFineTunesOnTheGridFeaturesItServes()
    {
        using var dir = new TempDirectory();
        var (train, validation) = Data(dir);

        var result = Run(ImageBackbone.ResNet18Grid, train, validation);

        // The heads trained on pooled + 3×3 grid features of the tuned layer 4: what the saved graph outputs, 5,120 values.
        using var onnx = BatchedImageFeaturizer.Create(result.Backbone, batchSize: 4);
        var served = onnx.Featurize(train.ImagePaths).Select(f => f.Features!).ToArray();
        Assert.Equal(ImageBackbone.ResNet18Grid.FeatureSize, result.TrainFeatures[0]!.Length);
        float worst = 0;
        for (int i = 0; i < Images; i++) worst = Math.Max(worst, MaxAbsDiff(served[i], result.TrainFeatures[i]!));
        output.WriteLine($"resnet18-grid: max |ONNX Runtime - TorchSharp| after write-back = {worst}");
        Assert.True(worst <= 1e-4f, $"max |ONNX Runtime - TorchSharp| = {worst}");
        Assert.Equal("resnet18-grid-layer4", result.Backbone.Name);
    }

    [Fact]
    public void ResNet18MapFineTunesOnTheFeatureMapItServesWithItsLearnedPoolingHeads()
    {
        using var dir = new TempDirectory();
        var (train, validation) = Data(dir);

        var result = Run(ImageBackbone.ResNet18Map, train, validation);

        // The heads trained on the tuned layer 4's 512 × 7 × 7 map, channel-major: what the saved graph outputs, 25,088 values.
        using var onnx = BatchedImageFeaturizer.Create(result.Backbone, batchSize: 4);
        var served = onnx.Featurize(train.ImagePaths).Select(f => f.Features!).ToArray();
        using var original = BatchedImageFeaturizer.Create(ImageBackbone.ResNet18Map, batchSize: 4);
        var before = original.Featurize(train.ImagePaths).Select(f => f.Features!).ToArray();
        Assert.Equal(ImageBackbone.ResNet18Map.FeatureSize, result.TrainFeatures[0]!.Length);
        float worst = 0, moved = 0;
        for (int i = 0; i < Images; i++)
        {
            worst = Math.Max(worst, MaxAbsDiff(served[i], result.TrainFeatures[i]!));
            moved = Math.Max(moved, MaxAbsDiff(before[i], served[i]));
        }
        output.WriteLine($"resnet18-map: max |ONNX Runtime - TorchSharp| after write-back = {worst}; max feature change by fine-tuning = {moved}");
        Assert.True(worst <= 1e-4f, $"max |ONNX Runtime - TorchSharp| = {worst}");
        Assert.True(moved > 1e-3f, $"fine-tuning moved the features by at most {moved}");
        Assert.Equal("resnet18-map-layer4", result.Backbone.Name);
        Assert.Equal(result.Backbone.ReadModel().Graph.Node, ImageBackbone.ResNet18Map.ReadModel().Graph.Node);
        // The heads' SpatialChannels reaches their learned pooling: C = 2 trains another history than the default C = 8
        // (heads that ignored the map's layout would ignore it).
        var twoChannels = Layer4FineTuner.Run(ImageBackbone.ResNet18Map, train, validation,
            new PromptEmbeddingHeadsTrainer.Options { BatchSize = 8, Seed = 3, Device = HeadsDevice.Cpu, SpatialChannels = 2 },
            new BackboneFineTuningOptions { Mode = BackboneFineTuning.Layer4, LearningRate = 1e-3, NumberOfEpochs = 3 });
        Assert.NotEqual(result.Epochs.Select(e => e.Loss), twoChannels.Epochs.Select(e => e.Loss));
    }

    [Fact]
    public void SeededFineTuningOfResNet18MapIsDeterministic()
    {
        using var dir = new TempDirectory();
        var (train, validation) = Data(dir);

        var first = Run(ImageBackbone.ResNet18Map, train, validation);
        var second = Run(ImageBackbone.ResNet18Map, train, validation);

        Assert.Equal(first.Backbone.ReadModel().ToByteArray(), second.Backbone.ReadModel().ToByteArray());
        Assert.Equal(first.Epochs.Select(e => e.ValidationMeanCosine), second.Epochs.Select(e => e.ValidationMeanCosine));
        for (int i = 0; i < Images; i++) Assert.Equal(first.TrainFeatures[i], second.TrainFeatures[i]);
    }

    [Theory]
    [InlineData("resnet18-grid")]
    [InlineData("resnet18-map")]
    public void ResNet18VariantsShareTheirLayer3ActivationsWithTheSameResult(string variant)
    {
        using var dir = new TempDirectory();
        var (train, validation) = Data(dir);
        var backbone = ImageBackbone.Resolve(variant);
        var alone = Run(backbone, train, validation);

        using var shared = new Layer3ActivationCache();
        Run(ImageBackbone.ResNet18, train, validation, shared);
        var stages = new List<string>();
        var second = Run(backbone, train, validation, shared, new SynchronousProgress(r => stages.Add(r.Stage)));

        Assert.DoesNotContain(Layer4FineTuner.ActivationStage, stages);
        Assert.Contains(Layer4FineTuner.TrainingStage, stages);
        Assert.Equal(alone.Backbone.ReadModel().ToByteArray(), second.Backbone.ReadModel().ToByteArray());
    }

    [Fact]
    public void AHeadsWarmUpIsEpochZeroOnTheFrozenLayer4AndIsKeptWhenNoJointEpochBeatsIt()
    {
        using var dir = new TempDirectory();
        var (train, validation) = Data(dir);
        var backbone = ImageBackbone.ResNet18At(64);
        var heads = new PromptEmbeddingHeadsTrainer.Options { BatchSize = 8, Seed = 3, Device = HeadsDevice.Cpu };

        // A learning rate this large wrecks layer 4 in one step: the warm-up's epoch 0 (frozen layer 4) must win on validation.
        var result = Layer4FineTuner.Run(backbone, train, validation, heads,
            new BackboneFineTuningOptions { Mode = BackboneFineTuning.Layer4, LearningRate = 10, NumberOfEpochs = 2, HeadsWarmupEpochs = 3 });

        Assert.Equal([0, 1, 2], result.Epochs.Select(e => e.Epoch));
        Assert.False(double.IsNaN(result.Epochs[0].ValidationMeanCosine));
        Assert.Equal(0, result.BestEpoch);
        var source = backbone.ReadModel().Graph.Initializer;
        var tuned = result.Backbone.ReadModel().Graph.Initializer;
        Assert.All(source.Zip(tuned), p => Assert.Equal(Values(p.First), Values(p.Second)));
    }

    private sealed class SynchronousProgress(Action<ProgressReport> report) : IProgress<ProgressReport>
    {
        public void Report(ProgressReport value) => report(value);
    }

    [Fact]
    public void OnlyLayer4sInitializersChangeAndTheNodesStayTheSame()
    {
        using var dir = new TempDirectory();
        var (train, validation) = Data(dir);
        var backbone = ImageBackbone.ResNet18At(64);

        var tuned = Run(backbone, train, validation).Backbone.ReadModel();

        var source = backbone.ReadModel();
        Assert.Equal(source.Graph.Node, tuned.Graph.Node);
        ResNet18Network created;
        lock (TorchRandom.Gate) created = new ResNet18Network();   // torch's default generator is process-wide
        using var network = created;
        var layerOf = ResNet18OnnxWeights.Bind(source, network, "test").ToDictionary(b => b.Initializer, b => b.Layer);
        var changed = source.Graph.Initializer.Zip(tuned.Graph.Initializer)
            .Where(p => !Values(p.First).SequenceEqual(Values(p.Second))).Select(p => p.First.Name).ToList();
        Assert.NotEmpty(changed);
        Assert.All(changed, name => Assert.Equal(4, layerOf[name]));
    }

    [Fact]
    public void SeededFineTuningIsDeterministic()
    {
        using var dir = new TempDirectory();
        var (train, validation) = Data(dir);
        var backbone = ImageBackbone.ResNet18At(64);

        var first = Run(backbone, train, validation);
        var second = Run(backbone, train, validation);

        Assert.Equal(first.Backbone.ReadModel().ToByteArray(), second.Backbone.ReadModel().ToByteArray());
        Assert.Equal(first.Epochs.Select(e => e.Loss), second.Epochs.Select(e => e.Loss));
        Assert.NotEqual(backbone.Fingerprint, first.Backbone.Fingerprint);
    }

    [Fact]
    public void TheFineTunedBackboneSavesInAModelZipThatPlainMlNetScores()
    {
        using var dir = new TempDirectory();
        var (train, validation) = Data(dir);
        var result = Run(ImageBackbone.ResNet18At(64), train, validation);
        var ml = new MLContext(seed: 1);
        var data = Paths(ml, [.. train.ImagePaths]);
        string zip = dir.File("model.zip");
        using (var fitted = ml.Transforms.ApplyImageBackbone(result.Backbone).Fit(data))
            ml.Model.Save(fitted, data.Schema, zip);

        var loaded = ml.Model.Load(zip, out _);
        var features = Features(ml, loaded.Transform(data));
        (loaded as IDisposable)?.Dispose();

        for (int i = 0; i < Images; i++)
            Assert.True(MaxAbsDiff(features[i], result.TrainFeatures[i]!) <= 1e-4f, $"image {i}: {MaxAbsDiff(features[i], result.TrainFeatures[i]!)}");
    }

    [Fact]
    public void AnUnreadableTrainingImageIsSkippedAndCounted()
    {
        using var dir = new TempDirectory();
        var (train, validation) = Data(dir);
        File.WriteAllText(train.ImagePaths[3], "not a png");

        var result = Run(ImageBackbone.ResNet18At(64), train, validation);

        Assert.Equal(1, result.SkippedImages);
        Assert.Null(result.TrainFeatures[3]);
        Assert.NotNull(result.TrainFeatures[4]);
    }

    private static FineTunedBackbone Run(ImageBackbone backbone, FineTuningImages train, FineTuningImages validation,
        Layer3ActivationCache? shared = null, IProgress<ProgressReport>? progress = null) =>
        Layer4FineTuner.Run(backbone, train, validation,
            new PromptEmbeddingHeadsTrainer.Options { BatchSize = 8, Seed = 3, Device = HeadsDevice.Cpu },
            new BackboneFineTuningOptions { Mode = BackboneFineTuning.Layer4, LearningRate = 1e-3, NumberOfEpochs = 3 }, progress, default, shared);

    /// <summary>Generated images with random unit targets and multi-hot labels (the heads can memorise them).</summary>
    private static (FineTuningImages Train, FineTuningImages Validation) Data(TempDirectory dir)
    {
        var random = new Random(5);
        FineTuningImages Split(string name, int count, int seed)
        {
            var paths = Enumerable.Range(0, count).Select(i => WritePng(dir.File($"{name}{i}.png"), seed: seed + i, 72, 64)).ToArray();
            var targets = Enumerable.Range(0, count).Select(_ =>
            {
                var v = Enumerable.Range(0, EmbeddingSize).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
                float norm = MathF.Sqrt(v.Sum(x => x * x));
                return v.Select(x => x / norm).ToArray();
            }).ToArray();
            var labels = Enumerable.Range(0, count).Select(_ => Enumerable.Range(0, VocabularySize).Select(_ => random.Next(2) * 1f).ToArray()).ToArray();
            return new FineTuningImages(paths, targets, labels);
        }
        return (Split("t", Images, 100), Split("v", 8, 500));
    }

    private static float[] Values(ReverseSD.MLNet.Onnx.Proto.TensorProto t) => t.FloatData.Count > 0
        ? t.FloatData.ToArray()
        : System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(t.RawData.Span).ToArray();

    private static float MaxAbsDiff(float[] a, float[] b) => a.Zip(b, (x, y) => MathF.Abs(x - y)).Max();
}
