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
    public static FineTunedBackbone Run(ImageBackbone backbone, FineTuningImages train, FineTuningImages? validation,
        PromptEmbeddingHeadsTrainer.Options heads, BackboneFineTuningOptions options,
        IProgress<ProgressReport>? progress = null, CancellationToken cancellationToken = default)
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

        using var torchBackbone = ResNet18TorchBackbone.Create(backbone);
        var network = torchBackbone.Network;
        var clock = Stopwatch.StartNew();
        var (trainActivations, trainRows) = Activations(torchBackbone, train.ImagePaths, "training", progress, cancellationToken);
        var (validationActivations, validationRows) = validation == null
            ? (null, [])
            : Activations(torchBackbone, validation.ImagePaths, "validation", progress, cancellationToken);
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
                (epochs, bestEpoch) = Train(network, trainActivations!, trainTargets, trainLabels, validationActivations, validationTargets, heads, options, progress, cancellationToken);
            double trainingSeconds = clock.Elapsed.TotalSeconds;

            var trainFeatures = Scatter(Features(network, trainActivations!), trainRows, train.ImagePaths.Count);
            var validationFeatures = validation == null ? null
                : validationActivations is null ? new float[]?[validation.ImagePaths.Count]
                : Scatter(Features(network, validationActivations), validationRows, validation.ImagePaths.Count);
            var tuned = torchBackbone.ToBackbone($"{backbone.Name}-layer4", fromLayer: 4);
            int skipped = train.ImagePaths.Count - trainRows.Length + (validation == null ? 0 : validation.ImagePaths.Count - validationRows.Length);
            return new FineTunedBackbone(tuned, epochs, bestEpoch, trainFeatures, validationFeatures, activationBytes, activationSeconds, trainingSeconds)
            {
                SkippedImages = skipped,
            };
        }
        finally
        {
            trainActivations?.Dispose();
            validationActivations?.Dispose();
        }
    }

    private static (List<HeadsEpochSummary> Epochs, int BestEpoch) Train(ResNet18Network network, Tensor trainActivations, Tensor trainTargets, Tensor? trainLabels,
        Tensor? validationActivations, Tensor? validationTargets, PromptEmbeddingHeadsTrainer.Options o, BackboneFineTuningOptions options,
        IProgress<ProgressReport>? progress, CancellationToken cancellationToken)
    {
        // Seeds torch and builds the heads exactly as the heads trainer does.
        using var heads = PromptEmbeddingHeadsTrainer.CreateNetwork(o, ResNet18Network.FeatureSize, (int)trainTargets.shape[1],
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
        try
        {
            for (int epoch = 1; epoch <= options.NumberOfEpochs; epoch++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var clock = Stopwatch.StartNew();
                random.Shuffle(order);
                network.eval(); // batch-norm statistics stay those of ImageNet; their scale and shift train
                heads.train();
                double loss = 0, cosineLoss = 0, vocabularyLoss = 0;
                int batches = 0;
                for (int start = 0; start < order.Length; start += o.BatchSize)
                {
                    int count = Math.Min(o.BatchSize, order.Length - start);
                    if (count < 2) break; // a single-sample tail cannot be batch-normalised by an MLP head
                    using var scope = torch.NewDisposeScope();
                    var index = torch.tensor(order.AsSpan(start, count).ToArray().Select(i => (long)i).ToArray());
                    var features = network.ForwardFromLayer3(trainActivations.index_select(0, index));
                    var parts = HeadsTrainingLoop.Loss(heads, settings, features, trainTargets.index_select(0, index), trainLabels?.index_select(0, index));
                    headsOptimizer.zero_grad();
                    backboneOptimizer.zero_grad();
                    parts.Total.backward();
                    headsOptimizer.step();
                    backboneOptimizer.step();
                    loss += parts.Total.item<float>();
                    cosineLoss += parts.Cosine.item<float>();
                    vocabularyLoss += parts.Vocabulary?.item<float>() ?? 0;
                    batches++;
                }
                double validationCosine = double.NaN;
                if (validationActivations is not null && validationTargets is not null)
                {
                    using var validationFeatures = Features(network, validationActivations);
                    validationCosine = HeadsTrainingLoop.MeanCosine(heads, validationFeatures, validationTargets);
                }
                var summary = new HeadsEpochSummary(epoch, 0, loss / Math.Max(1, batches), cosineLoss / Math.Max(1, batches),
                    vocabularyLoss / Math.Max(1, batches), validationCosine, clock.Elapsed.TotalSeconds);
                epochs.Add(summary);
                progress?.Report(new ProgressReport(TrainingStage, epoch, options.NumberOfEpochs, string.Create(CultureInfo.InvariantCulture,
                    $"epoch {epoch}: loss {summary.Loss:F4}, validation cosine {validationCosine:F4}")));
                if (double.IsNaN(validationCosine) || validationCosine > bestCosine)
                {
                    bestCosine = double.IsNaN(validationCosine) ? bestCosine : validationCosine;
                    bestEpoch = epoch;
                    if (validationActivations is not null)
                    {
                        Dispose(bestLayer4);
                        using var noGrad = torch.no_grad();
                        bestLayer4 = layer4.Select(p => p.detach().clone()).ToArray();
                    }
                }
            }
            if (bestLayer4 != null && bestEpoch != epochs.Count)
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

    /// <summary>Layer 4 + pooling over cached activations, in eval mode without gradients.</summary>
    private static Tensor Features(ResNet18Network network, Tensor activations)
    {
        using var noGrad = torch.no_grad();
        var parts = new List<Tensor>();
        try
        {
            for (long start = 0; start < activations.shape[0]; start += ActivationBatchSize * 4)
                parts.Add(network.ForwardFromLayer3(activations.narrow(0, start, Math.Min(ActivationBatchSize * 4, activations.shape[0] - start))));
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
