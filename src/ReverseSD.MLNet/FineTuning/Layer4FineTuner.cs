using System.Diagnostics;
using System.Globalization;
using ReverseSD.MLNet.Backbones;
using ReverseSD.MLNet.Heads;
using TorchSharp;
using static TorchSharp.torch;

namespace ReverseSD.MLNet.FineTuning;

/// <summary>Images with their training targets: sentence embeddings s(y) (unit norm) and, unless vanilla, multi-hot vocabulary labels.</summary>
/// <param name="ImagePaths">The image files.</param>
/// <param name="Targets">One target embedding per image.</param>
/// <param name="Labels">One multi-hot label row per image; null for the vanilla head.</param>
internal sealed record FineTuningImages(IReadOnlyList<string> ImagePaths, float[][] Targets, float[][]? Labels);

/// <summary>What <see cref="Layer4FineTuner.Run"/> produced.</summary>
/// <param name="Backbone">The backbone with the fine-tuned layer 4 written into its ONNX graph.</param>
/// <param name="Epochs">One summary per epoch of joint training.</param>
/// <param name="BestEpoch">The epoch whose weights were kept (best validation mean cosine; the last without validation).</param>
/// <param name="TrainFeatures">The fine-tuned backbone's features of each training image (null for an unreadable one).</param>
/// <param name="ValidationFeatures">The same for the validation images; null without validation images.</param>
/// <param name="ActivationBytes">Memory held by the cached layer-3 activations (training + validation).</param>
/// <param name="ActivationSeconds">Wall time of computing the layer-3 activations.</param>
/// <param name="TrainingSeconds">Wall time of the joint training.</param>
internal sealed record FineTunedBackbone(
    ImageBackbone Backbone, IReadOnlyList<HeadsEpochSummary> Epochs, int BestEpoch,
    float[]?[] TrainFeatures, float[]?[]? ValidationFeatures, long ActivationBytes, double ActivationSeconds, double TrainingSeconds)
{
    /// <summary>Images that could not be read (training and validation), skipped.</summary>
    public int SkippedImages { get; init; }
}

/// <summary>
/// <c>--finetune layer4</c> on a CPU: ResNet18's layers up to 3 run once per image (their activations kept in memory,
/// float32), then layer 4 and the heads train together with the heads' loss (paper Eq. 1 + λ·Eq. 3, <see cref="HeadsTrainingLoop.Loss"/>),
/// layer 4 with its own lower learning rate and its batch norms' statistics frozen. The best epoch on validation is kept
/// and its layer 4 written back into the backbone's ONNX graph (same nodes, new initializers), so the saved model and the
/// fast featurisation path serve it as any backbone. Deterministic for a given seed.
/// </summary>
internal static class Layer4FineTuner
{
    public const string ActivationStage = "layer-3 activations";
    public const string TrainingStage = "fine-tuning layer 4";
    private const int ActivationBatchSize = 16;

    /// <summary>
    /// Fine-tunes layer 4 of <paramref name="backbone"/> with heads built from <paramref name="heads"/> (its configuration,
    /// hidden sizes, dropout, λ, learning rate, batch size, seed); the fine-tuned backbone is named <c>NAME-layer4</c>.
    /// </summary>
    /// <remarks>
    /// With <paramref name="sharedActivations"/>, the layer-3 activations are taken from it when another backbone with the same
    /// input and layers 1-3 computed them (resnet18, resnet18-grid and resnet18-map), and left in it otherwise; it owns them.
    /// A feature-map backbone (resnet18-map) trains with heads that learn its spatial pooling (<paramref name="heads"/>'
    /// SpatialChannels and SpatialDropout, its FeatureMapChannels set from the backbone), on the map its graph outputs.
    /// </remarks>
    public static FineTunedBackbone Run(ImageBackbone backbone, FineTuningImages train, FineTuningImages? validation,
        PromptEmbeddingHeadsTrainer.Options heads, BackboneFineTuningOptions options,
        IProgress<ProgressReport>? progress = null, CancellationToken cancellationToken = default, Layer3ActivationCache? sharedActivations = null)
    {
        ArgumentNullException.ThrowIfNull(backbone);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(heads);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        PromptEmbeddingHeadsTrainer.Validate(heads);
        Check(train, "training");
        if (validation != null) Check(validation, "validation");
        if (heads.Configuration != HeadConfiguration.Vanilla && train.Labels == null)
            throw new ArgumentException("The vocabulary head needs multi-hot labels.", nameof(train));
        var output = FeaturesOf(backbone);
        if (output == ResNet18Features.Map && heads.FeatureMapChannels != backbone.FeatureMapChannels)
        {
            // A feature-map backbone (resnet18-map) feeds heads that learn its spatial pooling, as the heads trainer gets them after.
            heads = heads.Clone();
            heads.FeatureMapChannels = backbone.FeatureMapChannels;
        }

        using var torchBackbone = ResNet18TorchBackbone.Create(backbone);
        var network = torchBackbone.Network;
        var clock = Stopwatch.StartNew();
        (Tensor? Activations, int[] Rows) Compute(IReadOnlyList<string> paths, string split) => sharedActivations == null
            ? Activations(torchBackbone, paths, split, progress, cancellationToken)
            : sharedActivations.GetOrAdd(backbone, paths, () => Activations(torchBackbone, paths, split, progress, cancellationToken));
        var (trainActivations, trainRows) = Compute(train.ImagePaths, "training");
        var (validationActivations, validationRows) = validation == null ? (null, []) : Compute(validation.ImagePaths, "validation");
        double activationSeconds = clock.Elapsed.TotalSeconds;
        long activationBytes = Bytes(trainActivations) + Bytes(validationActivations);
        try
        {
            if (trainRows.Length < 2)
                throw new ReverseSdInputException($"Only {trainRows.Length} training images could be read; fine-tuning needs at least 2.");
            using var trainTargets = Rows(train.Targets, trainRows);
            using var trainLabels = train.Labels == null ? null : Rows(train.Labels, trainRows);
            using var validationTargets = validation == null || validationRows.Length == 0 ? null : Rows(validation.Targets, validationRows);

            clock.Restart();
            List<HeadsEpochSummary> epochs;
            int bestEpoch;
            lock (TorchRandom.Gate)
                (epochs, bestEpoch) = Train(network, output, trainActivations!, trainTargets, trainLabels, validationActivations, validationTargets, heads, options, progress, cancellationToken);
            double trainingSeconds = clock.Elapsed.TotalSeconds;

            var trainFeatures = Scatter(Features(network, output, trainActivations!), trainRows, train.ImagePaths.Count);
            var validationFeatures = validation == null ? null
                : validationActivations is null ? new float[]?[validation.ImagePaths.Count]
                : Scatter(Features(network, output, validationActivations), validationRows, validation.ImagePaths.Count);
            var tuned = torchBackbone.ToBackbone($"{backbone.Name}-layer4", fromLayer: 4);
            int skipped = train.ImagePaths.Count - trainRows.Length + (validation == null ? 0 : validation.ImagePaths.Count - validationRows.Length);
            return new FineTunedBackbone(tuned, epochs, bestEpoch, trainFeatures, validationFeatures, activationBytes, activationSeconds, trainingSeconds)
            {
                SkippedImages = skipped,
            };
        }
        finally
        {
            if (sharedActivations == null)
            {
                trainActivations?.Dispose();
                validationActivations?.Dispose();
            }
        }
    }

    private static (List<HeadsEpochSummary> Epochs, int BestEpoch) Train(ResNet18Network network, ResNet18Features output, Tensor trainActivations, Tensor trainTargets, Tensor? trainLabels,
        Tensor? validationActivations, Tensor? validationTargets, PromptEmbeddingHeadsTrainer.Options o, BackboneFineTuningOptions options,
        IProgress<ProgressReport>? progress, CancellationToken cancellationToken)
    {
        // The heads read what the saved backbone outputs: pooled features, for resnet18-grid the 3×3 grid after them, for
        // resnet18-map the feature map (its heads pool it themselves).
        int featureSize = ResNet18Network.FeatureSize;
        if (output != ResNet18Features.Pooled)
        {
            using var noGrad = torch.no_grad();
            using var probe = network.ForwardFromLayer3(trainActivations.narrow(0, 0, 1), output);
            featureSize = (int)probe.shape[1];
        }
        // Seeds torch and builds the heads exactly as the heads trainer does.
        using var heads = PromptEmbeddingHeadsTrainer.CreateNetwork(o, featureSize, (int)trainTargets.shape[1],
            trainLabels is null ? 0 : (int)trainLabels.shape[1], torch.CPU);
        var settings = PromptEmbeddingHeadsTrainer.LoopSettings(o);
        foreach (var p in network.parameters()) p.requires_grad_(false);
        var layer4 = network.Layer4.parameters().ToList();
        foreach (var p in layer4) p.requires_grad_(true);
        using var headsOptimizer = o.Optimizer == HeadsOptimizer.AdamW
            ? (optim.Optimizer)optim.AdamW(heads.parameters(), o.LearningRate, weight_decay: o.WeightDecay)
            : optim.Adam(heads.parameters(), o.LearningRate, weight_decay: o.WeightDecay);
        using var backboneOptimizer = optim.Adam(layer4, options.LearningRate);

        var random = new Random(o.Seed);
        int[] order = Enumerable.Range(0, (int)trainTargets.shape[0]).ToArray();
        var epochs = new List<HeadsEpochSummary>();
        double bestCosine = double.NegativeInfinity;
        int bestEpoch = 0;
        Tensor[]? bestLayer4 = null;

        // One pass over the shuffled training pairs (the heads' optimiser, and layer 4's when given); the mean losses per batch.
        (double Loss, double Cosine, double Vocabulary) Pass(Func<Tensor, Tensor> batchFeatures, optim.Optimizer? backbone)
        {
            random.Shuffle(order);
            heads.train();
            double loss = 0, cosineLoss = 0, vocabularyLoss = 0;
            int batches = 0;
            for (int start = 0; start < order.Length; start += o.BatchSize)
            {
                int count = Math.Min(o.BatchSize, order.Length - start);
                if (count < 2) break; // a single-sample tail cannot be batch-normalised by an MLP head
                using var scope = torch.NewDisposeScope();
                var index = torch.tensor(order.AsSpan(start, count).ToArray().Select(i => (long)i).ToArray());
                var parts = HeadsTrainingLoop.Loss(heads, settings, batchFeatures(index), trainTargets.index_select(0, index), trainLabels?.index_select(0, index));
                headsOptimizer.zero_grad();
                backbone?.zero_grad();
                parts.Total.backward();
                headsOptimizer.step();
                backbone?.step();
                loss += parts.Total.item<float>();
                cosineLoss += parts.Cosine.item<float>();
                vocabularyLoss += parts.Vocabulary?.item<float>() ?? 0;
                batches++;
            }
            int n = Math.Max(1, batches);
            return (loss / n, cosineLoss / n, vocabularyLoss / n);
        }

        try
        {
            if (options.HeadsWarmupEpochs > 0)
            {
                // Epoch 0: the heads alone on the frozen layer 4's features, so the joint epochs start from heads that already fit
                // (fresh heads send random gradients into layer 4); its validation cosine is the frozen backbone's, kept when no joint epoch beats it.
                var clock = Stopwatch.StartNew();
                using var frozen = Features(network, output, trainActivations);
                var warm = (Loss: 0.0, Cosine: 0.0, Vocabulary: 0.0);
                for (int warmup = 0; warmup < options.HeadsWarmupEpochs; warmup++)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    warm = Pass(index => frozen.index_select(0, index), backbone: null);
                }
                double validationCosine = double.NaN;
                if (validationActivations is not null && validationTargets is not null)
                {
                    using var validationFeatures = Features(network, output, validationActivations);
                    validationCosine = HeadsTrainingLoop.MeanCosine(heads, validationFeatures, validationTargets);
                    bestCosine = validationCosine;
                    using var noGrad = torch.no_grad();
                    bestLayer4 = layer4.Select(p => p.detach().clone()).ToArray();
                }
                epochs.Add(new HeadsEpochSummary(0, 0, warm.Loss, warm.Cosine, warm.Vocabulary, validationCosine, clock.Elapsed.TotalSeconds));
                progress?.Report(new ProgressReport(TrainingStage, 0, options.NumberOfEpochs, string.Create(CultureInfo.InvariantCulture,
                    $"heads warm-up ({options.HeadsWarmupEpochs} epochs on the frozen layer 4): loss {epochs[0].Loss:F4}, validation cosine {validationCosine:F4}")));
            }
            for (int epoch = 1; epoch <= options.NumberOfEpochs; epoch++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var clock = Stopwatch.StartNew();
                network.eval(); // batch-norm statistics stay those of ImageNet; their scale and shift train
                var joint = Pass(index => network.ForwardFromLayer3(trainActivations.index_select(0, index), output), backboneOptimizer);
                double validationCosine = double.NaN;
                if (validationActivations is not null && validationTargets is not null)
                {
                    using var validationFeatures = Features(network, output, validationActivations);
                    validationCosine = HeadsTrainingLoop.MeanCosine(heads, validationFeatures, validationTargets);
                }
                var summary = new HeadsEpochSummary(epoch, 0, joint.Loss, joint.Cosine, joint.Vocabulary, validationCosine, clock.Elapsed.TotalSeconds);
                epochs.Add(summary);
                progress?.Report(new ProgressReport(TrainingStage, epoch, options.NumberOfEpochs, string.Create(CultureInfo.InvariantCulture,
                    $"epoch {epoch}: loss {summary.Loss:F4}, validation cosine {validationCosine:F4}")));
                // Without validation the last epoch is kept; a diverged epoch (NaN on validation) never is.
                if (validationActivations is null || validationTargets is null || validationCosine > bestCosine)
                {
                    if (!double.IsNaN(validationCosine)) bestCosine = validationCosine;
                    bestEpoch = epoch;
                    if (validationActivations is not null)
                    {
                        Dispose(bestLayer4);
                        using var noGrad = torch.no_grad();
                        bestLayer4 = layer4.Select(p => p.detach().clone()).ToArray();
                    }
                }
            }
            if (bestLayer4 != null && bestEpoch != epochs[^1].Epoch)
            {
                using var noGrad = torch.no_grad();
                for (int i = 0; i < layer4.Count; i++) layer4[i].copy_(bestLayer4[i]);
            }
        }
        finally
        {
            Dispose(bestLayer4);
            foreach (var p in network.parameters()) p.requires_grad_(false);
            network.eval();
        }
        return (epochs, bestEpoch);
    }

    /// <summary>Layer-3 activations of the readable images, in order, and the indices of those images.</summary>
    private static (Tensor? Activations, int[] Rows) Activations(ResNet18TorchBackbone backbone, IReadOnlyList<string> paths, string split,
        IProgress<ProgressReport>? progress, CancellationToken cancellationToken)
    {
        var parts = new List<Tensor>();
        var rows = new List<int>();
        try
        {
            using var noGrad = torch.no_grad();
            for (int start = 0; start < paths.Count; start += ActivationBatchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var batch = paths.Skip(start).Take(ActivationBatchSize).ToList();
                var (input, problems) = backbone.ReadImages(batch, cancellationToken);
                for (int i = 0; i < batch.Count; i++)
                    if (problems[i] == null) rows.Add(start + i);
                if (input is not null)
                    using (input)
                        parts.Add(backbone.Network.ForwardToLayer3(input));
                progress?.Report(new ProgressReport(ActivationStage, Math.Min(paths.Count, start + batch.Count), paths.Count, split));
            }
            return (parts.Count == 0 ? null : torch.cat(parts, 0), rows.ToArray());
        }
        finally
        {
            foreach (var t in parts) t.Dispose();
        }
    }

    /// <summary>What the backbone's graph outputs: pooled features, pooled + 3×3 grid (resnet18-grid) or the feature map (resnet18-map).</summary>
    internal static ResNet18Features FeaturesOf(ImageBackbone backbone) =>
        backbone.FeatureMapChannels > 0 ? ResNet18Features.Map : backbone.HasSpatialGrid ? ResNet18Features.PooledAndGrid : ResNet18Features.Pooled;

    /// <summary>Layer 4 + the backbone's <paramref name="output"/> over cached activations, in eval mode without gradients.</summary>
    private static Tensor Features(ResNet18Network network, ResNet18Features output, Tensor activations)
    {
        using var noGrad = torch.no_grad();
        var parts = new List<Tensor>();
        try
        {
            for (long start = 0; start < activations.shape[0]; start += ActivationBatchSize * 4)
                parts.Add(network.ForwardFromLayer3(activations.narrow(0, start, Math.Min(ActivationBatchSize * 4, activations.shape[0] - start)), output));
            return torch.cat(parts, 0);
        }
        finally
        {
            foreach (var t in parts) t.Dispose();
        }
    }

    private static float[]?[] Scatter(Tensor features, int[] rows, int count)
    {
        using (features)
        {
            var result = new float[]?[count];
            var all = features.data<float>().ToArray();
            int width = rows.Length == 0 ? 0 : all.Length / rows.Length;
            for (int k = 0; k < rows.Length; k++) result[rows[k]] = all.AsSpan(k * width, width).ToArray();
            return result;
        }
    }

    private static long Bytes(Tensor? t) => t is null ? 0 : t.NumberOfElements * t.ElementSize;

    private static void Check(FineTuningImages images, string what)
    {
        if (images.Targets.Length != images.ImagePaths.Count || (images.Labels != null && images.Labels.Length != images.ImagePaths.Count))
            throw new ArgumentException($"The {what} images, targets and labels differ in count.");
    }

    private static void Dispose(Tensor[]? tensors)
    {
        foreach (var t in tensors ?? []) t.Dispose();
    }

    private static Tensor Rows(float[][] values, int[] rows)
    {
        int width = values[rows[0]].Length;
        var flat = new float[(long)rows.Length * width];
        for (int k = 0; k < rows.Length; k++) values[rows[k]].CopyTo(flat, (long)k * width);
        return torch.tensor(flat, [rows.Length, width]);
    }
}

/// <summary>
/// Layer-3 activations kept for the next backbone that fine-tunes on the same images: ResNet18 backbones that differ only after
/// layer 4 (resnet18, resnet18-grid and resnet18-map: same graph file, input size and normalisation) share them. Owns the tensors.
/// </summary>
internal sealed class Layer3ActivationCache : IDisposable
{
    private readonly Dictionary<string, (Tensor? Activations, int[] Rows)> _entries = new(StringComparer.Ordinal);

    /// <summary>The entry for <paramref name="backbone"/>'s input on <paramref name="paths"/>, computed by <paramref name="compute"/> the first time.</summary>
    public (Tensor? Activations, int[] Rows) GetOrAdd(ImageBackbone backbone, IReadOnlyList<string> paths, Func<(Tensor?, int[])> compute)
    {
        // The fingerprint without the pooling variants: the model bytes, the mean image and the preprocessing, which fix layers 1-3's output.
        string input = backbone.Fingerprint.Replace("grid3x3;", "", StringComparison.Ordinal).Replace("map;", "", StringComparison.Ordinal)
            .Replace("global-pool;", "", StringComparison.Ordinal);
        string key = input + "|" + string.Join("\n", paths);
        if (!_entries.TryGetValue(key, out var entry)) _entries[key] = entry = compute();
        return entry;
    }

    /// <summary>Releases every cached tensor.</summary>
    public void Dispose()
    {
        foreach (var (activations, _) in _entries.Values) activations?.Dispose();
        _entries.Clear();
    }
}
